import Testing
@testable import TensorCore

/// gentrain's direct kernels for one channel on a side (a first layer, a last layer) against the naive twins, with
/// the wide side channel-blocked as the oneDNN path hands it over.
@Suite struct SingleChannelConvolutionTests {
    struct Case: CustomStringConvertible, Sendable {
        let inputs, outputs, size, kernel, stride: Int
        let padding: Padding
        let block: Int
        var description: String { "\(inputs)->\(outputs) \(size)x\(size) k\(kernel) s\(stride) \(padding) block \(block)" }
    }

    static let cases = [
        Case(inputs: 1, outputs: 16, size: 7, kernel: 3, stride: 1, padding: .same, block: 16),
        Case(inputs: 1, outputs: 32, size: 8, kernel: 3, stride: 2, padding: .same, block: 16),
        Case(inputs: 1, outputs: 16, size: 6, kernel: 4, stride: 2, padding: .valid, block: 8),
        Case(inputs: 16, outputs: 1, size: 7, kernel: 3, stride: 1, padding: .same, block: 16),
        Case(inputs: 32, outputs: 1, size: 8, kernel: 4, stride: 2, padding: .same, block: 8),
        Case(inputs: 16, outputs: 1, size: 7, kernel: 3, stride: 2, padding: .valid, block: 16),
        // The course's sizes: interior runs of four positions and borders on both sides.
        Case(inputs: 1, outputs: 16, size: 28, kernel: 3, stride: 1, padding: .same, block: 16),
        Case(inputs: 16, outputs: 1, size: 28, kernel: 3, stride: 1, padding: .same, block: 16),
    ]

    @Test(arguments: cases)
    func directKernelsMatchNaive(_ c: Case) throws {
        let g = ConvolutionGeometry.convolution(batch: 3, inputChannels: c.inputs, height: c.size, width: c.size, outputChannels: c.outputs,
                                                kernelSize: c.kernel, stride: c.stride, padding: c.padding)
        let blocked = TensorLayout.channelBlocked(c.block)
        let layouts = c.inputs == 1 ? ActivationLayouts(source: .standard, destination: blocked)
                                    : ActivationLayouts(source: blocked, destination: .standard)
        #expect(singleChannelShape(g, input: layouts.source, output: layouts.destination) != nil)
        #expect(singleChannelShape(g, input: .standard, output: .standard) == nil)
        let inputShape = [g.batch, g.inputChannels, g.inputHeight, g.inputWidth], outputShape = [g.batch, g.outputChannels, g.outputHeight, g.outputWidth]
        let input = randomTensor(inputShape, seed: 70), weight = randomTensor([c.outputs, c.inputs, c.kernel, c.kernel], seed: 71)
        let bias = randomTensor([c.outputs], seed: 72), upstream = randomTensor(outputShape, seed: 73)

        // Forward, written and then added.
        let reference = Tensor(zeros: outputShape)
        convolutionForwardNaive(output: reference.sharedWritePointer, input: input.readPointer, weight: weight.readPointer,
                                bias: bias.readPointer, geometry: g)
        let blockedInput = input.converted(to: layouts.source)
        let output = Tensor(uninitialized: outputShape, layout: layouts.destination)
        oneDNNConvolutionForward(output: output.storagePointer, input: blockedInput.storagePointer, weight: weight.readPointer,
                                 bias: bias.readPointer, geometry: g, layouts: layouts)
        #expect(maxDifference(output.standardized(), reference) < 1e-5)
        oneDNNConvolutionForward(output: output.storagePointer, input: blockedInput.storagePointer, weight: weight.readPointer,
                                 bias: bias.readPointer, geometry: g, layouts: layouts, accumulate: true)
        #expect(maxDifference(output.standardized(), Tensor(shape: outputShape, values: reference.scalars.map { 2 * $0 })) < 2e-5)

        // Backward: the input gradient written, then added onto a non-zero start; the weight gradient added.
        let naiveInput = Tensor(repeating: 0.25, shape: inputShape), naiveWeight = Tensor(repeating: 0.5, shape: weight.shape)
        convolutionBackwardNaive(inputGradient: naiveInput.sharedWritePointer, weightGradient: naiveWeight.sharedWritePointer,
                                 outputGradient: upstream.readPointer, input: input.readPointer, weight: weight.readPointer, geometry: g)
        let blockedUpstream = upstream.converted(to: layouts.destination)
        let inputGradient = Tensor(repeating: 0.25, shape: inputShape).converted(to: layouts.source)
        oneDNNConvolutionBackwardData(inputGradient: inputGradient.storagePointer, outputGradient: blockedUpstream.storagePointer,
                                      weight: weight.readPointer, geometry: g, layouts: layouts, accumulate: true)
        #expect(maxDifference(inputGradient.standardized(), naiveInput) < 1e-5)
        let written = Tensor(uninitialized: inputShape, layout: layouts.source)
        oneDNNConvolutionBackwardData(inputGradient: written.storagePointer, outputGradient: blockedUpstream.storagePointer,
                                      weight: weight.readPointer, geometry: g, layouts: layouts, accumulate: false)
        #expect(maxDifference(written.standardized(), Tensor(shape: inputShape, values: naiveInput.scalars.map { $0 - 0.25 })) < 1e-5)
        let weightGradient = Tensor(repeating: 0.5, shape: weight.shape)
        Parallelism.$threads.withValue(2) {
            oneDNNConvolutionBackwardWeights(weightGradient: weightGradient.sharedWritePointer, outputGradient: blockedUpstream.storagePointer,
                                             input: blockedInput.storagePointer, geometry: g, layouts: layouts)
        }
        #expect(maxDifference(weightGradient, naiveWeight) < 1e-4)
    }

    /// A one-channel image through a first layer, a transposed last layer and a convolution back to one channel,
    /// with oneDNN's layouts, gives what im2col gives.
    @Test func oneChannelChainsMatchRowMajorChains() {
        let x = randomTensor([2, 1, 8, 8], seed: 80)
        let parameters = [randomTensor([16, 1, 3, 3], seed: 81), randomTensor([16], seed: 82), randomTensor([16, 1, 3, 3], seed: 83),
                          randomTensor([1], seed: 84), randomTensor([1, 16, 3, 3], seed: 85)]
        func run(_ algorithm: ConvolutionAlgorithm) -> [Tensor] {
            ConvolutionAlgorithm.$current.withValue(algorithm) {
                let input = Variable(x, requiresGradient: true), p = parameters.map { Variable($0, requiresGradient: true) }
                let first = conv2d(input, weight: p[0], bias: p[1], stride: 1, padding: .same, activation: LeakyReLUFunction(slope: 0.2))
                let image = conv2dTranspose(first, weight: p[2], bias: p[3], stride: 1, padding: .same, activation: TanhFunction())
                let back = conv2d(first, weight: p[4], bias: p[3], stride: 1, padding: .same)
                sum(image * image + back * 0.5).backward()
                return [image.value, back.value, input.gradient!] + p.map { $0.gradient! }
            }
        }
        for (index, (ours, reference)) in zip(run(.oneDNN), run(.im2col)).enumerated() {
            let scale = max(reference.scalars.map(abs).max() ?? 1, 1)
            #expect(maxDifference(ours, reference) <= 1e-5 * scale, "tensor \(index)")
        }
    }
}
