import Testing
@testable import TensorCore

@Suite struct NormalizationTests {
    @Test func batchNormTrainingNormalizesAndUpdatesRunningStatistics() {
        let x = randomTensor([4, 2, 3, 3], seed: 1, low: -2, high: 3)
        let runningMean = Tensor(zeros: [2]), runningVariance = Tensor(repeating: 1, shape: [2])
        let gamma = Variable(Tensor(repeating: 1, shape: [2])), beta = Variable(Tensor(zeros: [2]))
        let y = batchNorm(Variable(x), gamma: gamma, beta: beta, runningMean: runningMean, runningVariance: runningVariance,
                          training: true, momentum: 0.9, epsilon: 1e-5).value
        for channel in 0..<2 {
            var values: [Float] = [], inputs: [Float] = []
            for n in 0..<4 { for i in 0..<3 { for j in 0..<3 { values.append(y[n, channel, i, j]); inputs.append(x[n, channel, i, j]) } } }
            let mean = values.reduce(0, +) / Float(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3)
            let inputMean = inputs.reduce(0, +) / Float(inputs.count)
            let inputVariance = inputs.map { ($0 - inputMean) * ($0 - inputMean) }.reduce(0, +) / Float(inputs.count)
            #expect(abs(runningMean[channel] - 0.1 * inputMean) < 1e-5)
            #expect(abs(runningVariance[channel] - (0.9 + 0.1 * inputVariance)) < 1e-5)
        }
    }

    @Test func batchNormInferenceUsesRunningStatistics() {
        let x = randomTensor([2, 2, 2, 2], seed: 2)
        let y = batchNorm(Variable(x), gamma: Variable(Tensor(shape: [2], values: [2, 3])), beta: Variable(Tensor(shape: [2], values: [0.5, -1])),
                          runningMean: Tensor(shape: [2], values: [0.1, -0.2]), runningVariance: Tensor(shape: [2], values: [4, 0.25]),
                          training: false, epsilon: 0).value
        #expect(abs(y[1, 0, 1, 0] - (2 * (x[1, 0, 1, 0] - 0.1) / 2 + 0.5)) < 1e-6)
        #expect(abs(y[0, 1, 0, 1] - (3 * (x[0, 1, 0, 1] + 0.2) / 0.5 - 1)) < 1e-5)
    }

    @Test(arguments: [true, false])
    func batchNormGradients(training: Bool) {
        let x = randomTensor([3, 2, 2, 2], seed: 3), gamma = randomTensor([2], seed: 4, low: 0.5, high: 1.5), beta = randomTensor([2], seed: 5)
        checkGradients([x, gamma, beta]) {
            batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: Tensor(zeros: [2]), runningVariance: Tensor(repeating: 1, shape: [2]),
                      training: training)
        }
        checkGradients([randomTensor([5, 3], seed: 6), randomTensor([3], seed: 7), randomTensor([3], seed: 8)]) {
            batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: Tensor(zeros: [3]), runningVariance: Tensor(repeating: 1, shape: [3]),
                      training: training)
        }
    }

    @Test func groupNormNormalizesEachGroup() {
        let x = randomTensor([2, 4, 3, 3], seed: 9, low: -1, high: 4)
        let y = groupNorm(Variable(x), gamma: Variable(Tensor(repeating: 1, shape: [4])), beta: Variable(Tensor(zeros: [4])),
                          groups: 2, epsilon: 1e-6).value
        for n in 0..<2 {
            for group in 0..<2 {
                var values: [Float] = []
                for c in (2 * group)..<(2 * group + 2) { for i in 0..<3 { for j in 0..<3 { values.append(y[n, c, i, j]) } } }
                let mean = values.reduce(0, +) / Float(values.count)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
                #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3)
            }
        }
        checkGradients([randomTensor([2, 4, 2, 2], seed: 10), randomTensor([4], seed: 11, low: 0.5, high: 1.5), randomTensor([4], seed: 12)]) {
            groupNorm($0[0], gamma: $0[1], beta: $0[2], groups: 2)
        }
    }
}

@Suite struct ResamplingTests {
    @Test func upsampleNearestRepeatsPixels() {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        #expect(upsampleNearest(Variable(x), factor: 2).value.scalars == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        checkGradients([randomTensor([2, 2, 3, 3])]) { upsampleNearest($0[0], factor: 2) }
    }

    @Test func averagePoolAveragesWindows() {
        let x = Tensor(shape: [1, 1, 2, 4], values: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(averagePool(Variable(x), size: 2).value.scalars == [3.5, 5.5])
        checkGradients([randomTensor([2, 2, 4, 5])]) { averagePool($0[0], size: 2) }
    }
}

@Suite struct SamplingTests {
    @Test func dropoutMaskDependsOnGlobalSampleNotOnSplit() {
        let x = Tensor(repeating: 1, shape: [6, 50])
        let random = CounterRandom(seed: 7)
        let whole = dropout(Variable(x), rate: 0.4, stream: 3, context: ForwardContext(training: true, random: random, step: 5, firstSample: 0)).value
        let secondHalf = dropout(Variable(Tensor(repeating: 1, shape: [3, 50])), rate: 0.4, stream: 3,
                                 context: ForwardContext(training: true, random: random, step: 5, firstSample: 3)).value
        #expect(Array(whole.scalars[150...]) == secondHalf.scalars)
        let kept = whole.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 1 / 0.6) < 1e-6 })
        #expect(abs(Float(kept.count) / 300 - 0.6) < 0.1)
        let otherStep = dropout(Variable(x), rate: 0.4, stream: 3, context: ForwardContext(training: true, random: random, step: 6)).value
        #expect(otherStep.scalars != whole.scalars)
        #expect(dropout(Variable(x), rate: 0.4, stream: 3, context: .inference).value.scalars == x.scalars)
        let context = ForwardContext(training: true, random: random, step: 1)
        checkGradients([randomTensor([3, 4])]) { dropout($0[0], rate: 0.5, stream: 1, context: context) }
    }

    @Test func embeddingPicksRowsAndScattersGradients() {
        let table = randomTensor([5, 3])
        let rows = embedding(Variable(table), indices: [4, 0, 4]).value
        #expect(rows.shape == [3, 3] && rows[0, 1] == table[4, 1] && rows[1, 2] == table[0, 2])
        checkGradients([table]) { embedding($0[0], indices: [4, 0, 4, 2]) }
    }
}

/// The layout-aware group normalization (with SiLU) against its naive twin, across layouts and thread counts.
@Suite struct GroupNormLayoutTests {
    static let layouts: [TensorLayout] = [.standard, .channelBlocked(8), .channelBlocked(16)]

    @Test(arguments: layouts, [NormalizedActivation.identity, .silu])
    func forwardMatchesNaiveTwin(layout: TensorLayout, activation: NormalizedActivation) {
        let x = randomTensor([3, 32, 5, 4], seed: 20, low: -2, high: 3), gamma = randomTensor([32], seed: 21, low: 0.5, high: 1.5)
        let beta = randomTensor([32], seed: 22)
        let shape = GroupNormShape(batch: 3, channels: 32, plane: 20, groups: 8, layout: layout)
        let input = x.converted(to: layout)
        let naive = Tensor(uninitialized: x.shape, layout: layout)
        groupNormForwardNaive(output: naive.storagePointer, input: input.storagePointer, gamma: gamma.readPointer, beta: beta.readPointer,
                              shape: shape, epsilon: 1e-5, activation: activation)
        let y = groupNorm(Variable(input), gamma: Variable(gamma), beta: Variable(beta), groups: 8, epsilon: 1e-5, activation: activation)
        #expect(y.storedValue.layout == layout)
        #expect(maxDifference(y.value, naive.standardized()) < 1e-5)
    }

    /// Every layout and thread count gives the same bits, forward and backward (each channel summed in one order).
    @Test func layoutsAndThreadsGiveTheSameBits() {
        // 8 images of 32 x 16 x 16: large enough that 2 threads split the images.
        let x = randomTensor([8, 32, 16, 16], seed: 23, low: -1, high: 2), gamma = randomTensor([32], seed: 24), beta = randomTensor([32], seed: 25)
        let upstream = randomTensor([8, 32, 16, 16], seed: 26)
        func run(_ layout: TensorLayout, threads: Int) -> [[Float]] {
            Parallelism.$threads.withValue(threads) {
                let input = Variable(x, requiresGradient: true), g = Variable(gamma, requiresGradient: true), b = Variable(beta, requiresGradient: true)
                let y = groupNorm(converted(input, to: layout), gamma: g, beta: b, groups: 4, activation: .silu)
                y.backward(seed: upstream)
                return [y.value.scalars, input.gradient!.scalars, g.gradient!.scalars, b.gradient!.scalars]
            }
        }
        let reference = run(.standard, threads: 1)
        for layout in Self.layouts { for threads in [1, 2] { #expect(run(layout, threads: threads) == reference, "\(layout), \(threads) threads") } }
    }

    @Test(arguments: layouts)
    func gradientsMatchFiniteDifferences(layout: TensorLayout) {
        let inputs = [randomTensor([2, 16, 2, 3], seed: 27), randomTensor([16], seed: 28, low: 0.5, high: 1.5), randomTensor([16], seed: 29)]
        for activation in [NormalizedActivation.identity, .silu] {
            checkGradients(inputs) { groupNorm(converted($0[0], to: layout), gamma: $0[1], beta: $0[2], groups: 4, activation: activation) }
        }
    }

    /// A gradient that reached the input earlier in another layout is added to, not overwritten.
    @Test func addsToAGradientInAnotherLayout() {
        let x = randomTensor([2, 16, 2, 2], seed: 30), gamma = Tensor(repeating: 1, shape: [16]), beta = Tensor(zeros: [16])
        let upstream = randomTensor([2, 16, 2, 2], seed: 31), earlier = randomTensor([2, 16, 2, 2], seed: 32)
        func gradient(_ blocked: Bool) -> Tensor {
            let input = Variable(blocked ? x.converted(to: .channelBlocked(16)) : x, requiresGradient: true)
            let y = groupNorm(input, gamma: Variable(gamma), beta: Variable(beta), groups: 2)
            y.backward(seed: upstream)
            return input.gradient!
        }
        let alone = gradient(true)
        let input = Variable(x.converted(to: .channelBlocked(16)), requiresGradient: true)
        input.accumulateGradient(earlier)  // row-major
        groupNorm(input, gamma: Variable(gamma), beta: Variable(beta), groups: 2).backward(seed: upstream)
        let expected = Tensor(shape: x.shape, values: zip(alone.scalars, earlier.scalars).map { $0 + $1 })
        #expect(maxDifference(input.gradient!, expected) < 1e-6)
        #expect(maxDifference(gradient(false), alone) < 1e-6)
    }
}
