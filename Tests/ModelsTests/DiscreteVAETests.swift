import Foundation
import Testing
@testable import Models
@testable import TensorCore

@Suite struct DiscreteVAETests {
    @Test func shapesParametersAndTheTemperatureSchedule() {
        let model = DiscreteVariationalAutoencoder(seed: 1, temperatureDecay: 3e-4)
        // The VAE's trunk (92,672) and decoder from 300 code values (943,936 + 92,609), and Dense(3136, 300).
        #expect(model.group.parameterCount == 92_672 + 941_100 + 943_936 + 92_609)
        #expect(model.encode(Variable(images(2, seed: 1))).shape == [2, 30, 10])
        let samples = model.sample(0..<5, random: CounterRandom(seed: 3))
        #expect(samples.shape == [5, 1, 28, 28] && samples.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Sample i depends only on i: any split of the indices draws the same images.
        let part = model.sample(3..<5, random: CounterRandom(seed: 3))
        #expect(part.scalars == Array(samples.scalars[(3 * 784)...]))
        #expect(model.temperature(atStep: 0) == 1)
        #expect(abs(model.temperature(atStep: 1000) - Float(Foundation.exp(-0.3))) < 1e-6)
        #expect(model.temperature(atStep: 2311) == 0.5 && model.temperature(atStep: 100_000) == 0.5)
        #expect(model.temperature(atStep: 2309) > 0.5)
    }

    @Test(arguments: [false, true])
    func lossIsReconstructionPlusWeightedDivergenceAndLearns(straightThrough: Bool) throws {
        let model = DiscreteVariationalAutoencoder(seed: 2, divergenceWeight: 0.5, straightThrough: straightThrough,
                                                   optimizer: Adam(learningRate: 1e-2))
        // Two images, each a constant intensity (0.1 and 0.8): learnable in a few steps.
        let batch = Tensor(shape: [2, 1, 28, 28], values: [Float](repeating: 0.1, count: 784) + [Float](repeating: 0.8, count: 784))
        let context = ForwardContext(training: true, random: CounterRandom(seed: 4))
        let (total, reconstruction, divergence) = model.loss(batch, context: context, weight: 0.5)
        #expect(abs(total.value.scalar - reconstruction.value.scalar - 0.5 * divergence.value.scalar) < 1e-3)
        // At initialisation the decoder is near 0.5 everywhere: about 784 ln 2 nats per image; KL in [0, 30 ln 10].
        #expect(abs(reconstruction.value.scalar - 784 * 0.6931) < 60)
        #expect(divergence.value.scalar > 0 && divergence.value.scalar < 30 * Float(Foundation.log(10.0)))
        var first: Float = 0, last: Float = 0
        for step in 0..<10 {
            let stepContext = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 4), step: 0), globalBatch: 2)
            let losses = try model.trainStep(TrainingBatch(images: batch), context: stepContext)
            #expect(losses["temperature"] == 1)
            if step == 0 { first = losses["loss"]! }
            last = losses["loss"]!
        }
        // At fixed noise and temperature (step 0). The floor is the targets' entropy, 784 * (0.325 + 0.500) / 2 = 323 nats.
        #expect(last < 0.85 * first, "loss \(first) -> \(last)")
        let later = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 4), step: 1000), globalBatch: 2)
        let reported = try model.trainStep(TrainingBatch(images: batch), context: later)["temperature"]
        #expect(reported == model.temperature(atStep: 1000) && reported! < 0.98)
    }

    /// The straight-through code is one-hot in the forward pass: the hard model's reconstruction is the decoding of a
    /// one-hot code, the soft model's that of a relaxed one, from the same parameters and noise.
    @Test func theHardVariantDecodesOneHotCodes() {
        let (soft, hard) = (DiscreteVariationalAutoencoder(seed: 6), DiscreteVariationalAutoencoder(seed: 6, straightThrough: true))
        let batch = images(2, seed: 7)
        let context = ForwardContext(training: true, random: CounterRandom(seed: 1))
        let noise = context.random.gumbelTensor(stream: DiscreteVariationalAutoencoder.noiseStream, step: 0, samples: 0..<2, shape: [30, 10])
        let logits = withoutGradient { hard.encode(Variable(batch)) }
        let oneHot = oneHotOfLargest(withoutGradient { (logits + Variable(noise)).value })
        let expected = withoutGradient { sum(binaryCrossEntropyElements(logits: hard.decoderLogits(Variable(oneHot)), targets: batch)).value.scalar }
        let hardLoss = withoutGradient { hard.loss(batch, context: context, weight: 1).reconstruction.value.scalar }
        let softLoss = withoutGradient { soft.loss(batch, context: context, weight: 1).reconstruction.value.scalar }
        #expect(abs(hardLoss - expected) <= 1e-4 * expected && abs(softLoss - expected) > 1e-3, "\(hardLoss) \(expected) \(softLoss)")
    }

    /// The negative ELBO's terms add up over any split of the images (each image's draw is keyed by its index) and the
    /// validation loss is their sum.
    @Test func negativeELBOTermsAddUpOverAnySplit() {
        let model = DiscreteVariationalAutoencoder(seed: 8)
        let batch = images(5, seed: 9)
        let random = CounterRandom(seed: 2)
        #expect(model.validationTermNames == ["reconstruction", "kl"])
        let whole = model.validationTermSums(batch, firstSample: 20, random: random)
        var pieces = [0.0, 0.0]
        for range in [0..<1, 1..<4, 4..<5] {
            let part = model.validationTermSums(slice(Variable(batch), axis: 0, range: range).value, firstSample: 20 + range.lowerBound, random: random)
            pieces = zip(pieces, part).map { $0 + $1 }
        }
        for index in 0..<2 { #expect(abs(whole[index] - pieces[index]) <= 1e-5 * abs(whole[index]), "\(whole) vs \(pieces)") }
        #expect(abs(model.validationLossSum(batch, firstSample: 20, random: random) - whole.reduce(0, +)) <= 1e-9 * whole[0])
        #expect(model.validationTermSums(batch, firstSample: 21, random: random)[0] != whole[0])
        // KL of the encoder's q from the uniform prior, summed over 30 variables and 5 images: within [0, 150 ln 10].
        #expect(whole[1] > 0 && whole[1] < 150 * Foundation.log(10.0))
    }
}
