import Foundation
import Testing
@testable import TensorCore

/// PyTorch's numbers for the anchor U-Net's blocks (`scripts/reference_unet_blocks.py`).
private struct TorchBlocks {
    struct Case {
        let parameters: [(name: String, shape: [Int], values: [Float])]
        let inputs: [Tensor]
        let output: Tensor
        let projection: [Float]
        let inputGradients: [[Float]]
    }
    let embeddingTimesteps: [Int], embeddingDimension: Int, embedding: [Float]
    let attention: Case, residual: Case

    static let loaded: TorchBlocks = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/unet_blocks_torch.json")
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
        func floats(_ any: Any?) -> [Float] { (any as! [NSNumber]).map { $0.floatValue } }
        func tensor(_ any: Any?) -> Tensor {
            let object = any as! [String: Any]
            return Tensor(shape: object["shape"] as! [Int], values: floats(object["values"]))
        }
        func testCase(_ key: String) -> Case {
            let object = root[key] as! [String: Any]
            let parameters = (object["parameters"] as! [[String: Any]]).map {
                (name: $0["name"] as! String, shape: $0["shape"] as! [Int], values: floats($0["values"]))
            }
            return Case(parameters: parameters, inputs: (object["inputs"] as! [Any]).map(tensor), output: tensor(object["output"]),
                        projection: floats(object["projection"]), inputGradients: (object["input_gradients"] as! [Any]).map(floats))
        }
        let embedding = root["embedding"] as! [String: Any]
        return TorchBlocks(embeddingTimesteps: embedding["timesteps"] as! [Int], embeddingDimension: embedding["dimension"] as! Int,
                           embedding: floats(embedding["values"]), attention: testCase("attention"), residual: testCase("residual"))
    }()
}

/// PyTorch's parameters in gentrain's flat order: the same order, but `nn.Linear`'s weight [out, in] transposed to
/// Dense's kernel [in, out].
private func flatValues(_ parameters: [(name: String, shape: [Int], values: [Float])]) -> [Float] {
    parameters.flatMap { parameter -> [Float] in
        guard parameter.shape.count == 2 else { return parameter.values }
        return Tensor(shape: parameter.shape, values: parameter.values).permuted([1, 0]).scalars
    }
}

@Suite struct DiffusionLayerTests {
    @Test func sinusoidalEmbeddingMatchesTheAnchor() {
        let torch = TorchBlocks.loaded
        let embedding = sinusoidalTimeEmbedding(torch.embeddingTimesteps, dimension: torch.embeddingDimension)
        #expect(embedding.shape == [torch.embeddingTimesteps.count, torch.embeddingDimension])
        // Float32 angles up to 999 rad: one rounding step of an angle is 6e-5.
        let difference = zip(embedding.scalars, torch.embedding).map { abs($0 - $1) }.max()!
        #expect(difference < 2e-4)
        // t = 1: the first frequency is 1, the last 10000^(-15/16).
        #expect(abs(embedding[1, 0] - Foundation.sin(1)) < 1e-6 && abs(embedding[1, 16] - Foundation.cos(1)) < 1e-6)
        #expect(abs(embedding[1, 15] - Float(Foundation.sin(Foundation.pow(10000.0, -15.0 / 16)))) < 1e-6)
    }

    /// The attention block with PyTorch's weights gives PyTorch's output and input gradient, with oneDNN's blocked
    /// maps and with im2col's row-major ones.
    @Test(arguments: ConvolutionAlgorithm.allCases)
    func attentionBlockMatchesTheAnchor(algorithm: ConvolutionAlgorithm) {
        let torch = TorchBlocks.loaded.attention
        let group = ParameterGroup(name: "model", seed: 0)
        let block = AttentionBlock(group, name: "attention", channels: 16)
        #expect(group.entries.map(\.shape) == torch.parameters.map(\.shape))
        group.setFlatValues(flatValues(torch.parameters))
        ConvolutionAlgorithm.$current.withValue(algorithm) {
            let x = Variable(torch.inputs[0], requiresGradient: true)
            let y = block(x)
            #expect(maxDifference(y.value, torch.output) < 1e-4)
            sum(y * Variable(Tensor(shape: y.shape, values: torch.projection))).backward()
            #expect(maxDifference(x.gradient!, Tensor(shape: x.shape, values: torch.inputGradients[0])) < 1e-4)
        }
    }

    @Test(arguments: ConvolutionAlgorithm.allCases)
    func residualBlockMatchesTheAnchor(algorithm: ConvolutionAlgorithm) {
        let torch = TorchBlocks.loaded.residual
        let group = ParameterGroup(name: "model", seed: 0)
        let block = TimeConditionedResidualBlock(group, name: "block", inputChannels: 8, outputChannels: 16, timeChannels: 4)
        #expect(group.entries.map(\.shape) == torch.parameters.map { $0.shape.count == 2 ? $0.shape.reversed() : $0.shape })
        group.setFlatValues(flatValues(torch.parameters))
        ConvolutionAlgorithm.$current.withValue(algorithm) {
            let x = Variable(torch.inputs[0], requiresGradient: true), time = Variable(torch.inputs[1], requiresGradient: true)
            let y = block(x, timeEmbedding: time)
            #expect(maxDifference(y.value, torch.output) < 1e-4)
            sum(y * Variable(Tensor(shape: y.shape, values: torch.projection))).backward()
            #expect(maxDifference(x.gradient!, Tensor(shape: x.shape, values: torch.inputGradients[0])) < 1e-4)
            #expect(maxDifference(time.gradient!, Tensor(shape: time.shape, values: torch.inputGradients[1])) < 1e-4)
        }
    }

    /// Finite differences through the whole blocks (inputs in a channel-blocked layout, as a convolution leaves them).
    @Test func blocksMatchFiniteDifferences() {
        let group = ParameterGroup(name: "model", seed: 3)
        let attention = AttentionBlock(group, name: "attention", channels: 8, groups: 2)
        checkGradients([randomTensor([2, 8, 2, 3], seed: 4)], step: 5e-3) { attention(converted($0[0], to: .channelBlocked(8))) }
        let residual = TimeConditionedResidualBlock(group, name: "block", inputChannels: 8, outputChannels: 16, timeChannels: 3, groups: 4)
        checkGradients([randomTensor([2, 8, 3, 3], seed: 5), randomTensor([2, 3], seed: 6)], step: 5e-3) {
            residual(converted($0[0], to: .channelBlocked(8)), timeEmbedding: $0[1])
        }
    }
}
