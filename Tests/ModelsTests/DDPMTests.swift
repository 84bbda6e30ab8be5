import Foundation
import Testing
@testable import Models
@testable import TensorCore

/// A U-Net small enough for debug builds: 8 channels, two levels, attention at 14x14, E = 16, S = 8.
func tinyUNet() -> UNetConfiguration {
    var configuration = UNetConfiguration()
    configuration.baseChannels = 8
    configuration.channelMultipliers = [1, 2]
    configuration.attentionSizes = [14]
    configuration.timeEmbedding = 16
    configuration.sinusoidalDimension = 8
    return configuration
}

@Suite struct DDPMTests {
    /// The default configuration is the anchor `UNet`: PyTorch's parameter names, shapes and order
    /// (scripts/reference_unet_parameters.py wrote them), 723,265 values.
    @Test func theDefaultUNetIsTheAnchor() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/anchor_unet_parameters.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any])
        let torch = try #require(root["parameters"] as? [[String: Any]]).map { ($0["name"] as! String, $0["shape"] as! [Int]) }
        let model = DDPM(seed: 1)
        #expect(model.group.parameterCount == 723_265 && root["count"] as? Int == 723_265)
        let renamed = ["kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias"]
        let mine = model.group.entries.map { entry -> (String, [Int]) in
            var components = entry.name.split(separator: ".").map(String.init)
            components.append(renamed[components.removeLast()]!)
            return (components.joined(separator: "."), entry.shape.count == 2 ? entry.shape.reversed() : entry.shape)
        }
        #expect(mine.map(\.0) == torch.map(\.0))
        #expect(mine.map(\.1) == torch.map(\.1))
        // The export names the average behind `ema.`, the U-Net's tensors first, in the same order.
        let exported = model.exportedArrays(step: 0).map(\.name)
        #expect(Array(exported.prefix(torch.count)) == torch.map(\.0))
        #expect(Array(exported.dropFirst(torch.count)) == torch.map { "ema." + $0.0 })
    }

    /// The untrained network predicts eps = 0 (zeroed output convolutions), so the first loss is mean(eps^2) ~ 1;
    /// Adam steps lower it on a fixed batch, and the average follows the weights at the decay min(d, (1+t)/(10+t)).
    @Test func stepsLowerTheLossAndMoveTheAverage() throws {
        let model = DDPM(seed: 4, unet: tinyUNet(), schedule: .linear(timesteps: 100), averageDecay: 0.9, optimizer: Adam(learningRate: 3e-3))
        let images = Tensor(shape: [4, 1, 28, 28], values: (0..<(4 * 784)).map { Float(($0 / 28) % 28) / 14 - 1 })
        let zero = withoutGradient { model.unet(Variable(images), timesteps: [0, 10, 50, 99]).value }
        #expect(zero.scalars.allSatisfy { $0 == 0 })
        var losses: [Float] = []
        for step in 0..<6 {
            let before = model.group.flatValues, averageBefore = model.average.averages.flatMap { $0.value.scalars }
            // The same timesteps and noise each step (step 0), so the loss compares like with like.
            let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 9), step: 0), globalBatch: 4)
            losses.append(try model.trainStep(TrainingBatch(images: images), context: context)["loss"]!)
            let after = model.group.flatValues, averageAfter = model.average.averages.flatMap { $0.value.scalars }
            let keep = model.average.decay(iteration: step + 1)
            #expect(averageAfter.indices.allSatisfy { abs(averageAfter[$0] - (keep * averageBefore[$0] + (1 - keep) * after[$0])) < 1e-6 })
            #expect(before != after)
        }
        #expect(abs(losses[0] - 1) < 0.1 && losses[5] < losses[0], "\(losses)")
    }

    /// Samples come from the averaged weights, which are swapped back bitwise; the trajectory shows x_T to x_0.
    @Test func samplingUsesTheAverageAndLeavesTheWeights() throws {
        let model = DDPM(seed: 2, unet: tinyUNet(), schedule: .linear(timesteps: 20), evaluationSampler: .implicit(steps: 4, eta: 0))
        var generator = SeededGenerator(seed: 5)
        func randomize(_ pointer: UnsafeMutablePointer<Float>, _ count: Int) { for index in 0..<count { pointer[index] = generator.uniform(-0.2, 0.2) } }
        func randomizeAverage() { for average in model.average.averages { randomize(model.group.state.pointer + average.entry.offset, average.entry.count) } }
        randomize(model.group.values.pointer, model.group.parameterCount)
        randomizeAverage()
        let random = CounterRandom(seed: 3), weights = model.group.flatValues
        let first = model.sample(0..<2, random: random, step: 0)
        #expect(model.group.flatValues == weights && first.shape == [2, 1, 28, 28])
        randomize(model.group.values.pointer, model.group.parameterCount)
        #expect(model.sample(0..<2, random: random, step: 0).scalars == first.scalars)
        randomizeAverage()
        #expect(model.sample(0..<2, random: random, step: 0).scalars != first.scalars)
        #expect(first.scalars.allSatisfy { $0 >= -1 && $0 <= 1 })
        let picture = model.trajectory(0..<3, random: random, sampler: .implicit(steps: 4, eta: 0), columns: 5)
        #expect(picture.images.shape == [15, 1, 28, 28] && picture.columns == 5)
        #expect(picture.columnCaptions == ["t = 20", "t = 13", "t = 7", "t = 1", "t = 0"])
        // The first column is x_T itself.
        let start = random.normalTensor(stream: DDPM.startStream, step: 0, samples: 0..<3, shape: [1, 28, 28]).scalars
        #expect(Array(picture.images.scalars[0..<784]) == Array(start[0..<784]))
        #expect(Array(picture.images.scalars[(5 * 784)..<(6 * 784)]) == Array(start[784..<1568]))
    }

    /// The validation loss is the training loss summed over images, each image's t and eps keyed by its index.
    @Test func validationLossesAddUpOverAnySplit() {
        let model = DDPM(seed: 2, unet: tinyUNet(), schedule: .linear(timesteps: 50))
        var generator = SeededGenerator(seed: 6)
        model.group.setFlatValues((0..<model.group.parameterCount).map { _ in generator.uniform(-0.2, 0.2) })
        let images = Tensor(shape: [3, 1, 28, 28], values: (0..<(3 * 784)).map { Float($0 % 7) / 3 - 1 })
        let random = CounterRandom(seed: 8)
        let whole = model.validationLossSum(images, firstSample: 4, random: random)
        let pieces = [0..<1, 1..<3].reduce(0.0) { total, range in
            total + model.validationLossSum(slice(Variable(images), axis: 0, range: range).value, firstSample: 4 + range.lowerBound, random: random)
        }
        #expect(abs(whole - pieces) <= 1e-5 * whole, "\(whole) vs \(pieces)")
        #expect(model.validationLossSum(images, firstSample: 5, random: random) != whole)
    }
}
