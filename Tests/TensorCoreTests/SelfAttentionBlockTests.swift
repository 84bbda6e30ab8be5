import Foundation
import Testing
@testable import TensorCore

/// SAGAN's self-attention block (Layers.swift) against a naive loop, its identity at gamma = 0 and its gradients.
@Suite struct SelfAttentionBlockTests {
    /// `x + gamma o` by loops in Double: q, k, v per position from the 1x1 kernels and biases, softmax over the keys for
    /// each query position, the weighted values mapped back to C channels.
    static func naive(_ block: SelfAttention, _ x: Tensor) -> [Double] {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let positions = height * width
        let input = x.scalars.map(Double.init)
        func project(_ layer: Conv2D, _ features: [Double], inputs: Int, item: Int) -> [[Double]] {  // [outputs][positions]
            let kernel = layer.kernel.value.scalars.map(Double.init), bias = layer.bias!.value.scalars.map(Double.init)
            let outputs = layer.kernel.entry.shape[0]
            var result = [[Double]](repeating: [Double](repeating: 0, count: positions), count: outputs)
            for o in 0..<outputs {
                for p in 0..<positions {
                    var total = bias[o]
                    for c in 0..<inputs { total += kernel[o * inputs + c] * features[(item * inputs + c) * positions + p] }
                    result[o][p] = total
                }
            }
            return result
        }
        let gamma = Double(block.gamma.value.scalars[0])
        var result = input
        for item in 0..<batch {
            let q = project(block.query, input, inputs: channels, item: item)
            let k = project(block.key, input, inputs: channels, item: item)
            let v = project(block.value, input, inputs: channels, item: item)
            var attended = [Double](repeating: 0, count: v.count * positions)  // [C/2, P] for this item
            for query in 0..<positions {
                var scores = [Double](repeating: 0, count: positions)
                for key in 0..<positions { for c in 0..<q.count { scores[key] += q[c][query] * k[c][key] } }
                let largest = scores.max()!
                let weights = scores.map { Foundation.exp($0 - largest) }
                let total = weights.reduce(0, +)
                for channel in 0..<v.count {
                    for key in 0..<positions { attended[channel * positions + query] += weights[key] / total * v[channel][key] }
                }
            }
            let o = project(block.output, attended, inputs: v.count, item: 0)
            for channel in 0..<channels {
                for position in 0..<positions { result[(item * channels + channel) * positions + position] += gamma * o[channel][position] }
            }
        }
        return result
    }

    static func setGamma(_ block: SelfAttention, _ value: Float) {
        block.gamma.group.values.pointer[block.gamma.entry.offset] = value
    }

    @Test(arguments: [false, true])
    func blockMatchesTheNaiveLoop(spectralNormalization: Bool) {
        let group = ParameterGroup(name: "attention", seed: 3)
        let block = SelfAttention(group, name: "attention", channels: 16, spectralNormalization: spectralNormalization)
        // Biases away from zero so that a missing one shows.
        for layer in [block.query, block.key, block.value, block.output] {
            let bias = layer.bias!
            for index in 0..<bias.entry.count { group.values.pointer[bias.entry.offset + index] = 0.1 * Float(index % 5) - 0.2 }
        }
        Self.setGamma(block, 0.8)
        let x = randomTensor([2, 16, 3, 4], seed: 4, low: -2, high: 2)
        let output = withoutGradient { block(Variable(x)) }.value.scalars
        if spectralNormalization {
            // With spectral normalisation the block computes the plain block of the normalised kernels.
            let plainGroup = ParameterGroup(name: "plain", seed: 3)
            let plain = SelfAttention(plainGroup, name: "attention", channels: 16)
            for (normalised, target) in zip([block.query, block.key, block.value, block.output], [plain.query, plain.key, plain.value, plain.output]) {
                let kernel = withoutGradient { normalised.effectiveKernel.value }.scalars
                for index in 0..<kernel.count { plainGroup.values.pointer[target.kernel.entry.offset + index] = kernel[index] }
                let bias = normalised.bias!.value.scalars
                for index in 0..<bias.count { plainGroup.values.pointer[target.bias!.entry.offset + index] = bias[index] }
            }
            Self.setGamma(plain, 0.8)
            let expected = Self.naive(plain, x)
            #expect(zip(output, expected).allSatisfy { abs(Double($0) - $1) < 1e-4 })
        } else {
            let expected = Self.naive(block, x)
            let difference = zip(output, expected).map { abs(Double($0) - $1) }.max()!
            #expect(difference < 1e-4, "max difference \(difference)")
            #expect(zip(output, x.scalars).contains { abs($0 - $1) > 1e-2 }, "the attention output is not added")
        }
    }

    @Test func gammaZeroIsTheIdentityWithOrWithoutSpectralNormalisation() {
        for normalised in [false, true] {
            let block = SelfAttention(ParameterGroup(name: "a", seed: 5), name: "attention", channels: 16, spectralNormalization: normalised)
            let x = randomTensor([2, 16, 2, 3], seed: 6)
            #expect(withoutGradient { block(Variable(x)) }.value.scalars == x.scalars)
        }
    }

    /// Central differences for the input, gamma, and a kernel of each of the four convolutions (through the
    /// spectral normalisation).
    @Test func gradientsByCentralDifferences() {
        let group = ParameterGroup(name: "attention", seed: 7)
        let block = SelfAttention(group, name: "attention", channels: 8, spectralNormalization: true)
        for norm in block.spectralNorms { norm.powerIteration() }
        Self.setGamma(block, 0.6)
        let x = randomTensor([2, 8, 2, 3], seed: 8)
        checkGradients([x]) { block($0[0]) }
        // The parameters: the loss is sum(block(x) * w); its analytic gradients land in the group's flat gradient buffer.
        let projection = randomTensor([2, 8, 2, 3], seed: 9, low: 0.5, high: 1.5)
        func loss() -> Double {
            let output = withoutGradient { block(Variable(x)) }.value.scalars
            return zip(output, projection.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        group.zeroGradients()
        sum(block(Variable(x)) * Variable(projection)).backward()
        let analytic = group.flatGradients
        let entries = [block.gamma.entry] + [block.query, block.key, block.value, block.output].map(\.kernel.entry)
        for entry in entries {
            for element in [0, entry.count / 2, entry.count - 1] {
                let index = entry.offset + element
                let original = group.values.pointer[index]
                group.values.pointer[index] = original + 1e-2
                let plus = loss()
                group.values.pointer[index] = original - 1e-2
                let minus = loss()
                group.values.pointer[index] = original
                let numeric = Float((plus - minus) / 2e-2)
                #expect(abs(analytic[index] - numeric) <= 2e-3 + 1e-2 * abs(numeric), "\(entry.name)[\(element)]: \(analytic[index]) vs \(numeric)")
            }
        }
    }
}
