import Testing
@testable import TensorCore

/// Channel-blocked tensors: the conversions, the bias passes, and convolution chains that keep the layout.
@Suite struct TensorLayoutTests {
    /// oneDNN's reorders put every value where the naive index arithmetic says, both ways, for both blocks.
    @Test(arguments: [8, 16]) func conversionsMatchTheNaiveTwin(block: Int) {
        let shape = [3, 2 * block, 5, 7]
        let standard = randomTensor(shape, seed: 21)
        let blocked = standard.converted(to: .channelBlocked(block))
        #expect(blocked.layout == .channelBlocked(block))
        let naive = Tensor(uninitialized: shape, layout: .channelBlocked(block))
        convertLayoutNaive(destination: naive.storagePointer, .channelBlocked(block), source: standard.storagePointer, .standard,
                           shape: shape)
        let count = standard.count
        #expect((0..<count).allSatisfy { blocked.storagePointer[$0] == naive.storagePointer[$0] })
        #expect((0..<count).contains { blocked.storagePointer[$0] != standard.storagePointer[$0] })
        #expect(blocked.standardized().scalars == standard.scalars)
        // Value (n, c, h, w) = (2, block + 3, 4, 6) sits at its documented position.
        #expect(blocked.storagePointer[layoutOffset(2, block + 3, 4, 6, shape: shape, layout: .channelBlocked(block))] == standard[2, block + 3, 4, 6])
    }

    /// A channel-blocked tensor handed to a row-major reader stops the program instead of being misread.
    @Test func readingABlockedTensorAsRowMajorStops() async {
        await #expect(processExitsWith: .failure) {
            let blocked = randomTensor([1, 16, 2, 2]).converted(to: .channelBlocked(16))
            _ = blocked.readPointer
        }
    }

    /// The bias gradient and bias addition give the same values in both layouts (the gradient the same bits).
    @Test func biasPassesAgreeAcrossLayouts() {
        let shape = [3, 32, 4, 5], plane = 20
        let gradient = randomTensor(shape, seed: 22), bias = randomTensor([32], seed: 23)
        let blocked = gradient.converted(to: .channelBlocked(16))
        var fromStandard = [Float](repeating: 0.5, count: 32), fromBlocked = fromStandard
        accumulateBiasGradient(&fromStandard, gradient.storagePointer, batch: 3, channels: 32, plane: plane)
        accumulateBiasGradient(&fromBlocked, blocked.storagePointer, batch: 3, channels: 32, plane: plane, layout: .channelBlocked(16))
        #expect(fromStandard == fromBlocked)
        var channelFive: Float = 0
        for n in 0..<3 { for h in 0..<4 { for w in 0..<5 { channelFive += gradient[n, 5, h, w] } } }
        #expect(abs(fromStandard[5] - 0.5 - channelFive) < 1e-4)
        let biased = gradient.converted(to: .standard)
        var standardCopy = Tensor(shape: shape, values: biased.scalars)
        standardCopy.withUnsafeMutableBufferPointer { addBias($0.baseAddress!, bias.readPointer, batch: 3, channels: 32, plane: plane) }
        addBias(blocked.storagePointer, bias.readPointer, batch: 3, channels: 32, plane: plane, layout: .channelBlocked(16))
        #expect(blocked.standardized().scalars == standardCopy.scalars)
        #expect(standardCopy[1, 7, 2, 3] == gradient[1, 7, 2, 3] + bias[7])
    }

    /// A chain of convolutions and transposed convolutions with oneDNN, whose intermediate outputs stay channel-blocked,
    /// gives the values and gradients of the same chain through im2col's row-major buffers. One blocked output also
    /// feeds a row-major op, so its gradient arrives in both layouts.
    @Test func blockedChainsMatchRowMajorChains() throws {
        let x = randomTensor([2, 3, 9, 9], seed: 30)
        let weights = [randomTensor([16, 3, 3, 3], seed: 31), randomTensor([32, 16, 3, 3], seed: 32),
                       randomTensor([32, 16, 4, 4], seed: 33), randomTensor([16, 16, 3, 3], seed: 34), randomTensor([8, 16, 3, 3], seed: 35)]
        let biases = [16, 32, 16, 16, 8].enumerated().map { randomTensor([$0.element], seed: 40 + UInt64($0.offset)) }
        func run(_ algorithm: ConvolutionAlgorithm) -> (loss: Float, gradients: [Tensor], layouts: [TensorLayout]) {
            ConvolutionAlgorithm.$current.withValue(algorithm) {
                let input = Variable(x, requiresGradient: true)
                let w = weights.map { Variable($0, requiresGradient: true) }, b = biases.map { Variable($0, requiresGradient: true) }
                let first = conv2d(input, weight: w[0], bias: b[0], stride: 1, padding: .same, activation: LeakyReLUFunction(slope: 0.2))
                let second = conv2d(first, weight: w[1], bias: b[1], stride: 2, padding: .same, activation: ReLUFunction())
                let third = conv2dTranspose(second, weight: w[2], bias: b[2], stride: 2, padding: .same, activation: LeakyReLUFunction(slope: 0.2))
                let fourth = conv2d(third, weight: w[3], bias: b[3], stride: 1, padding: .same, activation: TanhFunction())
                let fifth = conv2d(fourth, weight: w[4], bias: b[4], stride: 1, padding: .valid)
                let loss = sum(fifth * fifth) + mean(fourth) * 3 + sum(first) * 0.1
                loss.backward()
                let layouts = [first, second, third, fourth, fifth].map(\.storedValue.layout)
                return (loss.value.scalar, [input.gradient!] + w.map { $0.gradient! } + b.map { $0.gradient! }, layouts)
            }
        }
        let blocked = run(.oneDNN), standard = run(.im2col)
        #expect(standard.layouts.allSatisfy { $0 == .standard })
        #expect(blocked.layouts.filter { $0 != .standard }.count >= 3, "oneDNN kept no chain blocked: \(blocked.layouts)")
        #expect(abs(blocked.loss - standard.loss) <= 1e-4 * abs(standard.loss))
        // Float32 sums in another order: the first bias's gradient (162 positions through four layers) differs by
        // 1.1e-4 of its largest value on an AMD EPYC (AVX2 kernels), by less on AVX-512; a layout error differs by O(1).
        for (index, (ours, reference)) in zip(blocked.gradients, standard.gradients).enumerated() {
            let scale = reference.scalars.map(abs).max() ?? 1
            #expect(maxDifference(ours, reference) <= 3e-4 * scale, "gradient \(index)")
        }
    }

    /// Finite differences through convolutions whose input, output and gradients are channel-blocked (a smooth
    /// activation: a leaky ReLU's kink is crossed by the finite step with 16-channel sums).
    @Test func gradientsThroughBlockedConvolutions() {
        let x = randomTensor([2, 16, 5, 5], seed: 50), w1 = randomTensor([16, 16, 3, 3], seed: 51, low: -0.3, high: 0.3)
        let w2 = randomTensor([16, 16, 4, 4], seed: 52, low: -0.3, high: 0.3), b = randomTensor([16], seed: 53)
        ConvolutionAlgorithm.$current.withValue(.oneDNN) {
            checkGradients([x, w1, w2, b]) { inputs in
                let hidden = conv2d(conv2d(inputs[0], weight: inputs[1], bias: inputs[3], stride: 1, padding: .same,
                                           activation: TanhFunction()),
                                    weight: inputs[1], bias: nil, stride: 2, padding: .same)
                return conv2dTranspose(hidden, weight: inputs[2], bias: inputs[3], stride: 2, padding: .same)
            }
        }
    }

    /// One input feeding a oneDNN convolution and an im2col one: the im2col pullback finds the gradient the oneDNN one
    /// left blocked and adds into it row-major. Both orders of the pullbacks give the sum of the two gradients.
    @Test func algorithmsMixedOnOneInput() {
        let x = randomTensor([2, 16, 6, 6], seed: 70), w = randomTensor([16, 16, 3, 3], seed: 71)
        func gradient(_ first: ConvolutionAlgorithm, _ second: ConvolutionAlgorithm) -> Tensor {
            let input = Variable(x, requiresGradient: true), weight = Variable(w)
            let a = ConvolutionAlgorithm.$current.withValue(first) { conv2d(input, weight: weight, bias: nil, stride: 1, padding: .same) }
            let b = ConvolutionAlgorithm.$current.withValue(second) { conv2d(input, weight: weight, bias: nil, stride: 2, padding: .same) }
            sum(a * a).backward()
            sum(b * b).backward()
            return input.gradient!
        }
        let reference = gradient(.im2col, .im2col)
        let scale = reference.scalars.map(abs).max()!
        #expect(maxDifference(gradient(.oneDNN, .im2col), reference) <= 1e-4 * scale)
        #expect(maxDifference(gradient(.im2col, .oneDNN), reference) <= 1e-4 * scale)
    }

    /// Gradients arriving in different layouts add up: a row-major one into a blocked one and the other way.
    @Test func gradientsInDifferentLayoutsAccumulate() {
        let shape = [2, 16, 3, 3]
        let first = randomTensor(shape, seed: 60), second = randomTensor(shape, seed: 61)
        let expected = zip(first.scalars, second.scalars).map { $0 + $1 }
        for order in [(first.converted(to: .channelBlocked(16)), second), (first, second.converted(to: .channelBlocked(16)))] {
            let variable = Variable(Tensor(zeros: shape), requiresGradient: true)
            variable.accumulateGradient(order.0)
            variable.accumulateGradient(order.1)
            #expect(variable.gradient!.layout == .standard)
            #expect(maxDifference(variable.gradient!, Tensor(shape: shape, values: expected)) < 1e-6)
        }
        let variable = Variable(Tensor(zeros: shape), requiresGradient: true)
        variable.accumulateGradient(first.converted(to: .channelBlocked(16)))
        variable.accumulateGradient { $0[0] += 1 }
        #expect(variable.gradient![0, 0, 0, 0] == first[0, 0, 0, 0] + 1)
    }
}
