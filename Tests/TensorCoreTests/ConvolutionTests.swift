import Testing
@testable import TensorCore

@Suite(.serialized) struct ConvolutionTests {
    struct Case: Sendable, CustomStringConvertible {
        let batch, channels, size, outputs, kernel, stride: Int
        let padding: Padding
        var description: String { "\(batch)x\(channels)x\(size) k\(kernel) s\(stride) \(padding) -> \(outputs)" }
    }

    static let cases: [Case] = [
        Case(batch: 2, channels: 3, size: 7, outputs: 4, kernel: 3, stride: 1, padding: .same),
        Case(batch: 2, channels: 2, size: 8, outputs: 3, kernel: 3, stride: 2, padding: .same),
        Case(batch: 3, channels: 2, size: 7, outputs: 2, kernel: 3, stride: 2, padding: .same),
        Case(batch: 1, channels: 3, size: 6, outputs: 2, kernel: 4, stride: 2, padding: .same),
        Case(batch: 2, channels: 2, size: 7, outputs: 3, kernel: 3, stride: 2, padding: .valid),
        Case(batch: 2, channels: 4, size: 5, outputs: 3, kernel: 1, stride: 1, padding: .valid),
    ]

    @Test func kerasOutputSizes() {
        let same = ConvolutionGeometry.convolution(batch: 1, inputChannels: 1, height: 28, width: 28, outputChannels: 1,
                                                   kernelSize: 3, stride: 2, padding: .same)
        #expect((same.outputHeight, same.padTop) == (14, 0))
        let seven = ConvolutionGeometry.convolution(batch: 1, inputChannels: 1, height: 7, width: 7, outputChannels: 1,
                                                    kernelSize: 3, stride: 2, padding: .same)
        #expect((seven.outputHeight, seven.padTop) == (4, 1))
        let valid = ConvolutionGeometry.convolution(batch: 1, inputChannels: 1, height: 28, width: 28, outputChannels: 1,
                                                    kernelSize: 3, stride: 2, padding: .valid)
        #expect(valid.outputHeight == 13)
        let up3 = ConvolutionGeometry.transposed(batch: 1, inputChannels: 1, height: 7, width: 7, outputChannels: 1,
                                                 kernelSize: 3, stride: 2, padding: .same)
        #expect((up3.inputHeight, up3.padTop) == (14, 0))
        let up4 = ConvolutionGeometry.transposed(batch: 1, inputChannels: 1, height: 7, width: 7, outputChannels: 1,
                                                 kernelSize: 4, stride: 2, padding: .same)
        #expect((up4.inputHeight, up4.padTop) == (14, 1))
        let upValid = ConvolutionGeometry.transposed(batch: 1, inputChannels: 1, height: 7, width: 7, outputChannels: 1,
                                                     kernelSize: 3, stride: 2, padding: .valid)
        #expect(upValid.inputHeight == 15)
    }

    @Test(arguments: cases, ConvolutionAlgorithm.allCases)
    func fastKernelsMatchNaive(_ c: Case, algorithm: ConvolutionAlgorithm) {
        let g = ConvolutionGeometry.convolution(batch: c.batch, inputChannels: c.channels, height: c.size, width: c.size,
                                                outputChannels: c.outputs, kernelSize: c.kernel, stride: c.stride, padding: c.padding)
        let input = randomTensor([g.batch, g.inputChannels, g.inputHeight, g.inputWidth], seed: 1)
        let weight = randomTensor([g.outputChannels, g.inputChannels, g.kernelHeight, g.kernelWidth], seed: 2)
        let bias = randomTensor([g.outputChannels], seed: 3)
        let outputShape = [g.batch, g.outputChannels, g.outputHeight, g.outputWidth]
        let fast = Tensor(zeros: outputShape), naive = Tensor(zeros: outputShape)
        convolutionForward(output: fast.sharedWritePointer, input: input.readPointer, weight: weight.readPointer,
                           bias: bias.readPointer, geometry: g, algorithm: algorithm)
        convolutionForwardNaive(output: naive.sharedWritePointer, input: input.readPointer, weight: weight.readPointer,
                                bias: bias.readPointer, geometry: g)
        #expect(maxDifference(fast, naive) < 1e-5)

        let upstream = randomTensor(outputShape, seed: 4)
        let fastInput = Tensor(repeating: 0.25, shape: input.shape), naiveInput = Tensor(repeating: 0.25, shape: input.shape)
        let fastWeight = Tensor(repeating: 0.5, shape: weight.shape), naiveWeight = Tensor(repeating: 0.5, shape: weight.shape)
        let fastBias = Tensor(zeros: bias.shape)
        convolutionBackward(inputGradient: fastInput.sharedWritePointer, weightGradient: fastWeight.sharedWritePointer,
                            biasGradient: fastBias.sharedWritePointer, outputGradient: upstream.readPointer,
                            input: input.readPointer, weight: weight.readPointer, geometry: g, algorithm: algorithm)
        convolutionBackwardNaive(inputGradient: naiveInput.sharedWritePointer, weightGradient: naiveWeight.sharedWritePointer,
                                 outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g)
        #expect(maxDifference(fastInput, naiveInput) < 1e-5)
        #expect(maxDifference(fastWeight, naiveWeight) < 1e-4)
        let biasReference = upstream.summed(toShape: [1, g.outputChannels, 1, 1]).reshaped([g.outputChannels])
        #expect(maxDifference(fastBias, biasReference) < 1e-5)
    }

    @Test(arguments: cases, ConvolutionAlgorithm.allCases)
    func transposedKernelsMatchNaiveAdjoint(_ c: Case, algorithm: ConvolutionAlgorithm) {
        // The transposed convolution of x is the convolution's input gradient for upstream x.
        let g = ConvolutionGeometry.transposed(batch: c.batch, inputChannels: c.channels, height: c.size, width: c.size,
                                               outputChannels: c.outputs, kernelSize: c.kernel, stride: c.stride, padding: c.padding)
        let input = randomTensor([g.batch, g.outputChannels, g.outputHeight, g.outputWidth], seed: 5)
        let weight = randomTensor([g.outputChannels, g.inputChannels, g.kernelHeight, g.kernelWidth], seed: 6)
        let outputShape = [g.batch, g.inputChannels, g.inputHeight, g.inputWidth]
        let fast = Tensor(zeros: outputShape), naive = Tensor(zeros: outputShape)
        transposedConvolutionForward(output: fast.sharedWritePointer, input: input.readPointer, weight: weight.readPointer,
                                     bias: nil, geometry: g, algorithm: algorithm)
        convolutionBackwardNaive(inputGradient: naive.sharedWritePointer, weightGradient: nil, outputGradient: input.readPointer,
                                 input: naive.readPointer, weight: weight.readPointer, geometry: g)
        #expect(maxDifference(fast, naive) < 1e-5)

        // Gradients add to what the buffers hold.
        let upstream = randomTensor(outputShape, seed: 7)
        let fastInput = Tensor(repeating: -0.5, shape: input.shape)
        let fastWeight = Tensor(repeating: 0.75, shape: weight.shape), naiveWeight = Tensor(repeating: 0.75, shape: weight.shape)
        transposedConvolutionBackward(inputGradient: fastInput.sharedWritePointer, weightGradient: fastWeight.sharedWritePointer,
                                      biasGradient: nil, outputGradient: upstream.readPointer, input: input.readPointer,
                                      weight: weight.readPointer, geometry: g, algorithm: algorithm)
        let convolved = Tensor(zeros: input.shape)
        convolutionForwardNaive(output: convolved.sharedWritePointer, input: upstream.readPointer, weight: weight.readPointer,
                                bias: nil, geometry: g)
        let naiveInput = convolved.map { $0 - 0.5 }
        convolutionBackwardNaive(inputGradient: nil, weightGradient: naiveWeight.sharedWritePointer, outputGradient: input.readPointer,
                                 input: upstream.readPointer, weight: weight.readPointer, geometry: g)
        #expect(maxDifference(fastInput, naiveInput) < 1e-5)
        #expect(maxDifference(fastWeight, naiveWeight) < 1e-4)
    }

    @Test(arguments: ConvolutionAlgorithm.allCases)
    func chunkingOverManyImagesMatchesNaive(algorithm: ConvolutionAlgorithm) {
        // Enough images that the unfolded columns are processed in several chunks.
        let g = ConvolutionGeometry.convolution(batch: 40, inputChannels: 16, height: 28, width: 28, outputChannels: 2,
                                                kernelSize: 3, stride: 1, padding: .same)
        #expect(imagesPerChunk(g) < g.batch)
        let input = randomTensor([40, 16, 28, 28], seed: 8), weight = randomTensor([2, 16, 3, 3], seed: 9)
        let fast = Tensor(zeros: [40, 2, 28, 28]), naive = Tensor(zeros: [40, 2, 28, 28])
        convolutionForward(output: fast.sharedWritePointer, input: input.readPointer, weight: weight.readPointer, bias: nil, geometry: g, algorithm: algorithm)
        convolutionForwardNaive(output: naive.sharedWritePointer, input: input.readPointer, weight: weight.readPointer, bias: nil, geometry: g)
        #expect(maxDifference(fast, naive) < 1e-4)
    }

    @Test func oneDNNChunksWithARemainderMatchNaive() {
        // A chunk budget of three images over a batch of eight: chunks of 3, 3 and 2, with gradients adding up.
        let g = ConvolutionGeometry.convolution(batch: 8, inputChannels: 3, height: 9, width: 9, outputChannels: 5,
                                                kernelSize: 3, stride: 2, padding: .same)
        let imageBytes = 4 * (g.inputChannels * g.inputPlane + g.outputChannels * g.outputPlane)
        let input = randomTensor([8, 3, 9, 9], seed: 50), weight = randomTensor([5, 3, 3, 3], seed: 51)
        let bias = randomTensor([5], seed: 52), upstream = randomTensor([8, 5, 5, 5], seed: 53)
        let fast = Tensor(zeros: upstream.shape), naive = Tensor(zeros: upstream.shape)
        let fastInput = Tensor(repeating: 1, shape: input.shape), naiveInput = Tensor(repeating: 1, shape: input.shape)
        let fastWeight = Tensor(repeating: 2, shape: weight.shape), naiveWeight = Tensor(repeating: 2, shape: weight.shape)
        oneDNNConvolutionForward(output: fast.sharedWritePointer, input: input.readPointer, weight: weight.readPointer,
                                 bias: bias.readPointer, geometry: g, chunkBytes: 3 * imageBytes + 1)
        oneDNNConvolutionBackwardData(inputGradient: fastInput.sharedWritePointer, outputGradient: upstream.readPointer,
                                      weight: weight.readPointer, geometry: g, accumulate: true, chunkBytes: 3 * imageBytes)
        oneDNNConvolutionBackwardWeights(weightGradient: fastWeight.sharedWritePointer, outputGradient: upstream.readPointer,
                                         input: input.readPointer, geometry: g, chunkBytes: 3 * imageBytes)
        convolutionForwardNaive(output: naive.sharedWritePointer, input: input.readPointer, weight: weight.readPointer,
                                bias: bias.readPointer, geometry: g)
        convolutionBackwardNaive(inputGradient: naiveInput.sharedWritePointer, weightGradient: naiveWeight.sharedWritePointer,
                                 outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g)
        #expect(maxDifference(fast, naive) < 1e-5)
        #expect(maxDifference(fastInput, naiveInput) < 1e-5)
        #expect(maxDifference(fastWeight, naiveWeight) < 1e-4)
        #expect(oneDNNImplementations(g).contains("(8 images per chunk)"))
    }

    @Test(arguments: [(1, Padding.same), (2, .same), (2, .valid)])
    func convolutionGradients(stride: Int, padding: Padding) {
        let x = randomTensor([2, 2, 5, 5], seed: 10), w = randomTensor([3, 2, 3, 3], seed: 11), b = randomTensor([3], seed: 12)
        checkGradients([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding) }
    }

    @Test(arguments: [(3, 1, Padding.same), (3, 2, .same), (4, 2, .same), (3, 2, .valid)])
    func transposedConvolutionGradients(kernel: Int, stride: Int, padding: Padding) {
        let x = randomTensor([2, 3, 3, 3], seed: 13), w = randomTensor([3, 2, kernel, kernel], seed: 14), b = randomTensor([2], seed: 15)
        checkGradients([x, w, b]) { conv2dTranspose($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding) }
    }

    @Test func firstLayerSkipsInputGradient() {
        let counter = FlopCounter()
        FlopCounter.$current.withValue(counter) {
            let x = Variable(randomTensor([1, 1, 4, 4]))
            let w = Variable(randomTensor([2, 1, 3, 3]), requiresGradient: true)
            sum(conv2d(x, weight: w, bias: nil, stride: 1, padding: .same)).backward()
            #expect(w.gradient != nil && x.gradient == nil)
        }
        #expect(counter.operations == 2 * 2 * (2 * 16 * 9))
    }
}

@Suite struct FusedActivationTests {
    // Inputs kept away from 0 after the linear part is hard to arrange; ReLU's kink is avoided by the
    // leaky and smooth cases, and ReLU is checked against the unfused composition instead.
    @Test func fusedConvolutionMatchesComposition() {
        let x = randomTensor([2, 2, 4, 4], seed: 20), w = randomTensor([3, 2, 3, 3], seed: 21), b = randomTensor([3], seed: 22)
        let fused = conv2d(Variable(x), weight: Variable(w), bias: Variable(b), stride: 2, padding: .same, activation: ReLUFunction()).value
        let composed = relu(conv2d(Variable(x), weight: Variable(w), bias: Variable(b), stride: 2, padding: .same)).value
        #expect(maxDifference(fused, composed) == 0)
        // Leaky ReLU: the fused gradients equal those of the composition (finite differences would cross the kink).
        func gradients(fused: Bool) -> [Tensor] {
            let variables = [x, w, b].map { Variable($0, requiresGradient: true) }
            let y = fused
                ? conv2d(variables[0], weight: variables[1], bias: variables[2], stride: 1, padding: .same, activation: LeakyReLUFunction(slope: 0.2))
                : leakyRelu(conv2d(variables[0], weight: variables[1], bias: variables[2], stride: 1, padding: .same), slope: 0.2)
            sum(y * Variable(randomTensor(y.shape, seed: 29))).backward()
            return variables.map { $0.gradient! }
        }
        for (a, b) in zip(gradients(fused: true), gradients(fused: false)) { #expect(maxDifference(a, b) < 1e-5) }
        checkGradients([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: .same, activation: TanhFunction()) }
    }

    @Test func fusedTransposedConvolutionGradients() {
        let x = randomTensor([2, 3, 3, 3], seed: 23), w = randomTensor([3, 2, 4, 4], seed: 24), b = randomTensor([2], seed: 25)
        checkGradients([x, w, b]) { conv2dTranspose($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: .same, activation: SigmoidFunction()) }
        checkGradients([x, w, b]) { conv2dTranspose($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: .same, activation: LeakyReLUFunction(slope: 0.2)) }
    }

    @Test func fusedDenseMatchesMatmulPlusBiasAndHasGradients() {
        let x = randomTensor([3, 4], seed: 26), w = randomTensor([4, 5], seed: 27), b = randomTensor([5], seed: 28)
        let fused = dense(Variable(x), kernel: Variable(w), bias: Variable(b), activation: IdentityFunction()).value
        let composed = (matmul(Variable(x), Variable(w)) + Variable(b)).value
        #expect(maxDifference(fused, composed) < 1e-6)
        checkGradients([x, w, b]) { dense($0[0], kernel: $0[1], bias: $0[2], activation: IdentityFunction()) }
        checkGradients([x, w, b]) { dense($0[0], kernel: $0[1], bias: $0[2], activation: TanhFunction()) }
        checkGradients([x, w]) { dense($0[0], kernel: $0[1], bias: nil, activation: SigmoidFunction()) }
    }
}

@Suite(.serialized) struct ParallelKernelTests {
    @Test(arguments: ConvolutionAlgorithm.allCases)
    func twoThreadsGiveTheSameResultsAsNaive(algorithm: ConvolutionAlgorithm) {
        let g = ConvolutionGeometry.convolution(batch: 3, inputChannels: 5, height: 9, width: 9, outputChannels: 4,
                                                kernelSize: 3, stride: 2, padding: .same)
        let input = randomTensor([3, 5, 9, 9], seed: 30), weight = randomTensor([4, 5, 3, 3], seed: 31)
        let upstream = randomTensor([3, 4, g.outputHeight, g.outputWidth], seed: 32)
        let fast = Tensor(zeros: upstream.shape), naive = Tensor(zeros: upstream.shape)
        let fastInput = Tensor(zeros: input.shape), naiveInput = Tensor(zeros: input.shape)
        let fastWeight = Tensor(zeros: weight.shape), naiveWeight = Tensor(zeros: weight.shape)
        Parallelism.$threads.withValue(2) {
            convolutionForward(output: fast.sharedWritePointer, input: input.readPointer, weight: weight.readPointer, bias: nil, geometry: g, algorithm: algorithm)
            convolutionBackward(inputGradient: fastInput.sharedWritePointer, weightGradient: fastWeight.sharedWritePointer, biasGradient: nil,
                                outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g, algorithm: algorithm)
        }
        convolutionForwardNaive(output: naive.sharedWritePointer, input: input.readPointer, weight: weight.readPointer, bias: nil, geometry: g)
        convolutionBackwardNaive(inputGradient: naiveInput.sharedWritePointer, weightGradient: naiveWeight.sharedWritePointer,
                                 outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g)
        #expect(maxDifference(fast, naive) < 1e-5)
        #expect(maxDifference(fastInput, naiveInput) < 1e-5)
        #expect(maxDifference(fastWeight, naiveWeight) < 1e-4)
        let big = randomTensor([4, 40000], seed: 33)
        let activated = Parallelism.$threads.withValue(2) {
            conv2d(Variable(big.reshaped([4, 1, 200, 200])), weight: Variable(Tensor(repeating: 1, shape: [1, 1, 1, 1])), bias: nil,
                   activation: ReLUFunction()).value
        }
        #expect(activated.scalars == big.scalars.map { max($0, 0) })
    }
}

@Suite(.serialized) struct ChunkParallelTests {
    @Test(arguments: ConvolutionAlgorithm.allCases)
    func workersOverChunksMatchNaiveIncludingWeightGradientPartials(algorithm: ConvolutionAlgorithm) {
        let g = ConvolutionGeometry.convolution(batch: 24, inputChannels: 8, height: 28, width: 28, outputChannels: 3,
                                                kernelSize: 3, stride: 2, padding: .same)
        let plan = Parallelism.$threads.withValue(2) { ChunkPlan(g) }
        #expect(plan.chunks >= 2 && plan.workers == 2)
        let input = randomTensor([24, 8, 28, 28], seed: 40), weight = randomTensor([3, 8, 3, 3], seed: 41)
        let upstream = randomTensor([24, 3, 14, 14], seed: 42)
        let fast = Tensor(zeros: upstream.shape), naive = Tensor(zeros: upstream.shape)
        let fastInput = Tensor(zeros: input.shape), naiveInput = Tensor(zeros: input.shape)
        let fastWeight = Tensor(repeating: 1, shape: weight.shape), naiveWeight = Tensor(repeating: 1, shape: weight.shape)
        let transposed = Tensor(zeros: input.shape), transposedWeight = Tensor(zeros: weight.shape)
        let transposedInput = Tensor(zeros: upstream.shape)
        Parallelism.$threads.withValue(2) {
            convolutionForward(output: fast.sharedWritePointer, input: input.readPointer, weight: weight.readPointer, bias: nil, geometry: g, algorithm: algorithm)
            convolutionBackward(inputGradient: fastInput.sharedWritePointer, weightGradient: fastWeight.sharedWritePointer, biasGradient: nil,
                                outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g, algorithm: algorithm)
            // The transposed convolution of `upstream` is the convolution's input gradient; its backward is the forward.
            transposedConvolutionForward(output: transposed.sharedWritePointer, input: upstream.readPointer, weight: weight.readPointer,
                                         bias: nil, geometry: g, algorithm: algorithm)
            transposedConvolutionBackward(inputGradient: transposedInput.sharedWritePointer, weightGradient: transposedWeight.sharedWritePointer,
                                          biasGradient: nil, outputGradient: input.readPointer, input: upstream.readPointer,
                                          weight: weight.readPointer, geometry: g, algorithm: algorithm)
        }
        convolutionForwardNaive(output: naive.sharedWritePointer, input: input.readPointer, weight: weight.readPointer, bias: nil, geometry: g)
        convolutionBackwardNaive(inputGradient: naiveInput.sharedWritePointer, weightGradient: naiveWeight.sharedWritePointer,
                                 outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g)
        #expect(maxDifference(fast, naive) < 1e-4)
        #expect(maxDifference(fastInput, naiveInput) < 1e-4)
        #expect(maxDifference(fastWeight, naiveWeight) < 1e-2)
        #expect(maxDifference(transposed, naiveInput) < 1e-4)
        #expect(maxDifference(transposedInput, naive) < 1e-4)
        #expect(maxDifference(transposedWeight, naiveWeight.map { $0 - 1 }) < 1e-2)
    }
}
