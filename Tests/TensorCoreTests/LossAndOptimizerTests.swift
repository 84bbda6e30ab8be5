import Foundation
import Testing
@testable import TensorCore

@Suite struct LossTests {
    let logits = Tensor(shape: [2, 3], values: [-2.5, -0.3, 0.2, 0.8, 1.7, -1.1])
    let targets = Tensor(shape: [2, 3], values: [0, 1, 1, 0, 1, 0])

    @Test func meanSquaredErrorValueAndGradient() {
        let p = Tensor(shape: [3], values: [1, 2, 4]), t = Tensor(shape: [3], values: [0, 2, 2])
        #expect(abs(meanSquaredError(Variable(p), t).value.scalar - 5.0 / 3) < 1e-6)
        checkGradients([randomTensor([2, 3])]) { meanSquaredError($0[0], self.targets) }
    }

    @Test func binaryCrossEntropyFromLogitsMatchesDefinition() {
        let value = binaryCrossEntropy(logits: Variable(logits), targets: targets).value.scalar
        let expected = zip(logits.scalars, targets.scalars).map { x, t -> Double in
            let p = 1 / (1 + Foundation.exp(-Double(x)))
            return -(Double(t) * Foundation.log(p) + (1 - Double(t)) * Foundation.log(1 - p))
        }.reduce(0, +) / 6
        #expect(abs(Double(value) - expected) < 1e-6)
        checkGradients([logits]) { binaryCrossEntropyElements(logits: $0[0], targets: self.targets) }
    }

    @Test func binaryCrossEntropyFromProbabilitiesClipsAsKeras() {
        let p = Tensor(shape: [4], values: [0, 0.3, 0.9, 1]), t = Tensor(shape: [4], values: [1, 1, 0, 0])
        let elements = binaryCrossEntropyElements(probabilities: Variable(p), targets: t).value
        #expect(abs(elements[0] - Float(-Foundation.log(1e-7))) < 1e-3)
        #expect(abs(elements[1] - Float(-Foundation.log(0.3))) < 1e-6)
        #expect(abs(elements[2] - Float(-Foundation.log(0.1))) < 1e-5)
        #expect(elements[3].isFinite && elements[3] > 15)
        checkGradients([Tensor(shape: [2, 3], values: [0.2, 0.5, 0.7, 0.35, 0.8, 0.6])], step: 1e-3) {
            binaryCrossEntropyElements(probabilities: $0[0], targets: self.targets)
        }
    }

    @Test func categoricalCrossEntropy() {
        let value = TensorCore.categoricalCrossEntropy(logits: Variable(logits), labels: [2, 0]).value.scalar
        func logSoftmax(_ row: [Float], _ k: Int) -> Double {
            let total = row.map { Foundation.exp(Double($0)) }.reduce(0, +)
            return Double(row[k]) - Foundation.log(total)
        }
        let expected = -(logSoftmax(Array(logits.scalars[0..<3]), 2) + logSoftmax(Array(logits.scalars[3..<6]), 0)) / 2
        #expect(abs(Double(value) - expected) < 1e-6)
        checkGradients([logits]) { TensorCore.categoricalCrossEntropy(logits: $0[0], labels: [1, 2]) }
        let probabilities = softmax(Variable(logits)).value
        let fromProbabilities = TensorCore.categoricalCrossEntropy(
            probabilities: Variable(probabilities), targets: Tensor(shape: [2, 3], values: [0, 0, 1, 1, 0, 0])).value.scalar
        #expect(abs(fromProbabilities - value) < 1e-5)
    }
}

@Suite struct OptimizerTests {
    @Test func adamFollowsKerasUpdate() {
        let g = oneParameterGroup([1, -2], gradients: [0.5, -0.1])
        let adam = Adam(learningRate: 0.01)
        adam.step(g)
        adam.step(g)  // same gradient twice
        // Reference in Double, Keras formulation.
        var p = [1.0, -2.0], m = [0.0, 0.0], v = [0.0, 0.0]
        let grads = [0.5, -0.1]
        for t in 1...2 {
            let alpha = 0.01 * (1 - pow(0.999, Double(t))).squareRoot() / (1 - pow(0.9, Double(t)))
            for i in 0..<2 {
                m[i] += (grads[i] - m[i]) * 0.1
                v[i] += (grads[i] * grads[i] - v[i]) * 0.001
                p[i] -= alpha * m[i] / (v[i].squareRoot() + 1e-7)
            }
        }
        #expect(zip(g.flatValues, p).allSatisfy { abs(Double($0) - $1) < 1e-6 })
        #expect(adam.state.count == 4 && abs(Double(adam.state[0]) - m[0]) < 1e-7)
    }

    @Test func sgdWithMomentum() {
        let g = oneParameterGroup([1], gradients: [2])
        let sgd = SGD(learningRate: 0.1, momentum: 0.9)
        sgd.step(g)  // v = -0.2, p = 0.8
        sgd.step(g)  // v = -0.18 - 0.2 = -0.38, p = 0.42
        #expect(abs(g.flatValues[0] - 0.42) < 1e-6)
        let plain = oneParameterGroup([1], gradients: [2])
        SGD(learningRate: 0.1).step(plain)
        #expect(abs(plain.flatValues[0] - 0.8) < 1e-6)
    }
}

@Suite struct ParameterAndLayerTests {
    @Test func parametersLiveInOneFlatBufferInRegistrationOrder() {
        let group = ParameterGroup(name: "model", seed: 3)
        let dense = Dense(group, name: "dense", inputSize: 4, outputSize: 3)
        let conv = Conv2D(group, name: "conv", inputChannels: 2, outputChannels: 5, kernelSize: 3)
        #expect(group.entries.map(\.name) == ["dense.kernel", "dense.bias", "conv.kernel", "conv.bias"])
        #expect(group.entries.map(\.offset) == [0, 12, 15, 105])
        #expect(group.parameterCount == 110)
        let limit = (6.0 / Float(4 + 3)).squareRoot()
        #expect(dense.kernel.value.scalars.allSatisfy { abs($0) <= limit } && dense.bias!.value.scalars.allSatisfy { $0 == 0 })
        #expect(conv.kernel.value.shape == [5, 2, 3, 3])
        // Gradients land in the flat gradient buffer.
        let x = Variable(randomTensor([2, 4]))
        sum(dense(x)).backward()
        #expect(Array(group.flatGradients[12..<15]) == [2, 2, 2])
        group.zeroGradients()
        #expect(group.flatGradients.allSatisfy { $0 == 0 })
        // A frozen group records nothing, and only inside its scope, however the scope ends.
        #expect(group.frozen { !dense(x).requiresGradient })
        #expect(dense(x).requiresGradient)
        struct Stop: Error {}
        #expect(throws: Stop.self) { try group.frozen { throw Stop() } }
        #expect(group.isTrainable && dense(x).requiresGradient)
    }

    /// An optimizer's state follows its group's size: zeros at the first step, and a state of another size is
    /// refused (the process stops) rather than silently restarted.
    @Test func optimizerStateLengthIsChecked() async {
        let group = ParameterGroup(name: "g", seed: 1)
        _ = Dense(group, name: "d", inputSize: 3, outputSize: 2)
        let adam = Adam()
        #expect(adam.stateCount(parameterCount: 8) == 16 && SGD(momentum: 0.9).stateCount(parameterCount: 8) == 8
                && SGD().stateCount(parameterCount: 8) == 0)
        adam.step(group)
        #expect(adam.state.count == 16)
        await #expect(processExitsWith: .failure) {
            let group = ParameterGroup(name: "g", seed: 1)
            _ = Dense(group, name: "d", inputSize: 3, outputSize: 2)
            let adam = Adam()
            adam.state = [Float](repeating: 0, count: 10)
            adam.step(group)
        }
    }

    @Test func sameSeedSameInitialValues() {
        let a = ParameterGroup(name: "a", seed: 42), b = ParameterGroup(name: "b", seed: 42)
        _ = Dense(a, name: "d", inputSize: 3, outputSize: 3)
        _ = Dense(b, name: "d", inputSize: 3, outputSize: 3)
        #expect(a.flatValues == b.flatValues)
    }

    @Test func selfAttentionStartsAsIdentityAndHasGradients() {
        let group = ParameterGroup(name: "attention", seed: 1)
        let attention = SelfAttention(group, name: "attention", channels: 8)
        let x = randomTensor([2, 8, 3, 3])
        #expect(attention(Variable(x)).value.scalars == x.scalars)
        let gamma = attention.gamma
        gamma.group.values.pointer[gamma.entry.offset] = 0.7
        checkGradients([x]) { attention($0[0]) }
    }
}

@Suite struct RandomTests {
    @Test func philoxKnownAnswers() {
        // Random123's known-answer tests for Philox4x32-10.
        let zero = CounterRandom(seed: 0).block(stream: 0, step: 0, sample: 0, index: 0)
        #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])
        let ones = CounterRandom(seed: .max).block(stream: 0, step: 0xFFFF_FFFF, sample: .max, index: 0xFFFF_FFFF)
        #expect([ones.0, ones.1, ones.2, ones.3] == [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])
    }

    @Test func normalDrawsHaveUnitMomentsAndDependOnlyOnTheirAddress() {
        let random = CounterRandom(seed: 11)
        let values = random.normals(stream: 2, step: 3, sample: 4, count: 20000)
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.04)
        let tensor = random.normalTensor(stream: 2, step: 3, samples: 4..<6, shape: [3])
        #expect(Array(tensor.scalars[0..<3]) == Array(values[0..<3]))
        #expect(random.normals(stream: 2, step: 3, sample: 5, count: 3) != Array(values[0..<3]))
        var generator = SeededGenerator(seed: 5), again = SeededGenerator(seed: 5)
        #expect(generator.normalTensor([10]).scalars == again.normalTensor([10]).scalars)
    }
}
