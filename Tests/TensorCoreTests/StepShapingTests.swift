import Foundation
import Testing
@testable import TensorCore

/// Warm-up, clipping by the global norm, and the moving average of the weights.
@Suite struct StepShapingTests {
    @Test func warmupRaisesTheLearningRateLinearly() {
        let shaping = GradientStepShaping(warmupSteps: 4)
        #expect((1...6).map { shaping.learningRateFactor(iteration: $0) } == [0.25, 0.5, 0.75, 1, 1, 1])
        #expect(GradientStepShaping.none.learningRateFactor(iteration: 1) == 1)
        // Adam's update t uses lr * min(1, t / 4): the Keras form in Double with that factor.
        let g = oneParameterGroup([1, -2], gradients: [0.5, -0.1])
        let adam = Adam(learningRate: 0.01, shaping: shaping)
        var p = [1.0, -2.0], m = [0.0, 0.0], v = [0.0, 0.0]
        let grads = [0.5, -0.1]
        for t in 1...5 {
            adam.step(g)
            let alpha = 0.01 * min(1, Double(t) / 4) * (1 - pow(0.999, Double(t))).squareRoot() / (1 - pow(0.9, Double(t)))
            for i in 0..<2 {
                m[i] += (grads[i] - m[i]) * 0.1
                v[i] += (grads[i] * grads[i] - v[i]) * 0.001
                p[i] -= alpha * m[i] / (v[i].squareRoot() + 1e-7)
            }
            #expect(zip(g.flatValues, p).allSatisfy { abs(Double($0) - $1) < 1e-6 }, "update \(t)")
        }
    }

    @Test func clippingScalesGradientsAboveTheGlobalNorm() {
        // |(3, 4)| = 5 > 1: the update uses g / (5 + 1e-6) (PyTorch's clip_grad_norm_).
        let clipped = oneParameterGroup([1, 1], gradients: [3, 4])
        SGD(learningRate: 0.1, shaping: GradientStepShaping(globalClipNorm: 1)).step(clipped)
        let factor = 1 / (5 + 1e-6)
        #expect(abs(Double(clipped.flatValues[0]) - (1 - 0.1 * 3 * factor)) < 1e-7)
        #expect(abs(Double(clipped.flatValues[1]) - (1 - 0.1 * 4 * factor)) < 1e-7)
        // Below the norm: the same bits as without clipping, for SGD with momentum and for Adam.
        for optimizer in [{ (s: GradientStepShaping) in SGD(learningRate: 0.1, momentum: 0.9, shaping: s) as any Optimizer },
                          { (s: GradientStepShaping) in Adam(learningRate: 0.1, shaping: s) as any Optimizer }] {
            let plain = oneParameterGroup([1, 1], gradients: [3, 4]), loose = oneParameterGroup([1, 1], gradients: [3, 4])
            let a = optimizer(.none), b = optimizer(GradientStepShaping(globalClipNorm: 6))
            for _ in 0..<3 { a.step(plain); b.step(loose) }
            #expect(plain.flatValues == loose.flatValues)
        }
        // Adam on clipped gradients is Adam on the scaled gradients.
        let viaClipping = oneParameterGroup([1, 1], gradients: [3, 4]), scaled = oneParameterGroup([1, 1], gradients: [Float(3 * factor), Float(4 * factor)])
        Adam(learningRate: 0.1, shaping: GradientStepShaping(globalClipNorm: 1)).step(viaClipping)
        Adam(learningRate: 0.1).step(scaled)
        #expect(zip(viaClipping.flatValues, scaled.flatValues).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func globalNormSumsInDouble() {
        let values: [Float] = [1e-3, 2, -2, 1]
        let small = Double(Float(1e-3))
        #expect(values.withUnsafeBufferPointer { globalNorm($0.baseAddress!, count: 4) } == (small * small + 9.0).squareRoot())
    }

    @Test func weightAverageFollowsTheWeightsAndSwapsBitwise() {
        let group = ParameterGroup(name: "model", seed: 0)
        _ = group.register("a", initial: Tensor(shape: [2], values: [1, 2]))
        _ = group.register("b", initial: Tensor(shape: [1], values: [-1]))
        let average = WeightAverage(group, decay: 0.5)
        #expect(group.stateEntries.map(\.name) == ["ema.a", "ema.b"])
        #expect(group.stateEntries.allSatisfy { $0.agreement == .replicated })
        #expect(average.decay(iteration: 1) == Float(2.0 / 11.0) && average.decay(iteration: 1000) == 0.5)
        #expect(WeightAverage(ParameterGroup(name: "x", seed: 0), decay: 0.9999).decay(iteration: 90) == 0.91)
        // Weights move to (3, 4, 5); after update 1 the average is d (1, 2, -1) + (1 - d) (3, 4, 5), d = 2/11.
        group.setFlatValues([3, 4, 5])
        average.update(iteration: 1)
        let d: Float = 2.0 / 11.0
        let expected: [Float] = [d * 1 + (1 - d) * 3, d * 2 + (1 - d) * 4, d * -1 + (1 - d) * 5]
        let state = Array(UnsafeBufferPointer(start: group.state.pointer, count: 3))
        #expect(state == expected)
        let inside = average.withAveragedWeights { group.flatValues }
        #expect(inside == expected)
        #expect(group.flatValues == [3, 4, 5])
        #expect(Array(UnsafeBufferPointer(start: group.state.pointer, count: 3)) == expected)
    }
}
