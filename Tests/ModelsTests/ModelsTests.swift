import Testing
@testable import Models
@testable import TensorCore

func images(_ count: Int, seed: UInt64, low: Float = 0, high: Float = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return generator.uniformTensor([count, 1, 28, 28], low: low, high: high)
}

@Suite struct ModelTests {
    @Test func parameterCountsMatchTheReferenceArchitectures() {
        // Counts of the same architectures in ../shared/anchors/torch_models.py.
        #expect(Autoencoder(seed: 0).group.parameterCount == 389_153)
        #expect(VariationalAutoencoder(seed: 0).group.parameterCount == 489_537)
        let gan = DCGAN(seed: 0)
        #expect(gan.generatorGroup.parameterCount == 1_923_073)
        #expect(gan.discriminatorGroup.parameterCount == 521_345)
        // The evaluator: the PyTorch prototype of the same network counted 105,914 trainable parameters.
        #expect(Classifier(seed: 0).group.parameterCount == 105_914)
    }

    @Test func shapesThroughTheNetworks() {
        let autoencoder = Autoencoder(seed: 1)
        let x = Variable(images(2, seed: 1))
        #expect(autoencoder.encode(x).shape == [2, 32])
        #expect(autoencoder.decode(autoencoder.encode(x)).shape == [2, 1, 28, 28])
        #expect(autoencoder.interpolate(images(1, seed: 2), images(1, seed: 3)).shape == [11, 1, 28, 28])
        let gan = DCGAN(seed: 1)
        let generated = gan.sample(count: 2, random: CounterRandom(seed: 1))
        #expect(generated.shape == [2, 1, 28, 28] && generated.scalars.allSatisfy { abs($0) <= 1 })
        #expect(gan.discriminator(Variable(generated), context: .inference).shape == [2, 1])
        let vae = VariationalAutoencoder(seed: 1)
        let decoded = vae.sample(count: 2, random: CounterRandom(seed: 1))
        #expect(decoded.shape == [2, 1, 28, 28] && decoded.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func autoencoderLearnsATinyBatch() throws {
        let model = Autoencoder(seed: 2, optimizer: Adam(learningRate: 3e-3))
        let batch = images(4, seed: 4)
        let context = StepContext(forward: ForwardContext(training: true), globalBatch: 4)
        let first = try model.trainStep(TrainingBatch(images: batch), context: context)["loss"]!
        var last = first
        for _ in 0..<15 { last = try model.trainStep(TrainingBatch(images: batch), context: context)["loss"]! }
        #expect(last < 0.7 * first)
    }

    @Test func classifierLearnsATinyBatchAndPredictsItsLabels() throws {
        let model = Classifier(seed: 5, optimizer: Adam(learningRate: 3e-3))
        let batch = TrainingBatch(images: images(8, seed: 9), labels: [0, 1, 2, 3, 4, 5, 6, 7])
        let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 2)), globalBatch: 8)
        let first = try model.trainStep(batch, context: context)["loss"]!
        var last = first
        for step in 1..<40 {
            var stepContext = context
            stepContext.forward.step = UInt64(step)
            last = try model.trainStep(batch, context: stepContext)["loss"]!
        }
        #expect(last < 0.3 * first, "loss \(first) -> \(last)")
        // Inference uses the running statistics, which 40 steps at momentum 0.99 have only partly learned.
        let predictions = model.predict(batch.images)
        #expect(predictions.count == 8 && predictions.allSatisfy { (0..<10).contains($0) })
        let features = withoutGradient { model.features(Variable(batch.images)).value }
        #expect(features.shape == [8, Classifier.featureDimension] && features.scalars.contains { $0 < 0 })
        // The extractor's split path (features, then ReLU and the last layer) gives the fused path's logits.
        let split = withoutGradient { model.logits(features: model.features(Variable(batch.images))).value }
        let fused = withoutGradient { model.logits(Variable(batch.images), context: .inference).value }
        #expect(split.scalars == fused.scalars)
    }

    /// The validation loss is a sum over images whose noise depends only on each image's index: any split of the
    /// set into pieces (as ranks hold them) adds up to the whole; and it is the training loss summed over images.
    @Test func validationLossesAddUpOverAnySplit() {
        let batch = images(5, seed: 11)
        let random = CounterRandom(seed: 3)
        let vae = VariationalAutoencoder(seed: 6)
        let whole = vae.validationLossSum(batch, firstSample: 10, random: random)
        let pieces = [0..<2, 2..<3, 3..<5].reduce(0.0) { total, range in
            total + vae.validationLossSum(slice(Variable(batch), axis: 0, range: range).value, firstSample: 10 + range.lowerBound, random: random)
        }
        #expect(abs(whole - pieces) <= 1e-5 * abs(whole), "\(whole) vs \(pieces)")
        // Another index gives other noise, hence another value: the index really keys the noise.
        #expect(vae.validationLossSum(batch, firstSample: 11, random: random) != whole)
        let autoencoder = Autoencoder(seed: 7)
        let mean = withoutGradient { autoencoder.loss(batch, weight: 1).value.scalar }
        #expect(abs(autoencoder.validationLossSum(batch, firstSample: 0, random: random) - 5 * Double(mean)) <= 1e-5 * 5 * Double(mean))
    }

    @Test func vaeLossIsReconstructionPlusDivergence() throws {
        let model = VariationalAutoencoder(seed: 3)
        let batch = images(3, seed: 5)
        let (total, reconstruction, divergence) = model.loss(batch, context: ForwardContext(training: true), weight: 1.0 / 3)
        #expect(abs(total.value.scalar - reconstruction.value.scalar - divergence.value.scalar) < 1e-3)
        // At initialisation the decoder is near 0.5 everywhere: about 784 * ln 2 nats per image.
        #expect(abs(reconstruction.value.scalar - 784 * 0.6931) < 60)
        #expect(divergence.value.scalar >= 0)
        let losses = try model.trainStep(TrainingBatch(images: batch), context: StepContext(forward: ForwardContext(training: true), globalBatch: 3))
        #expect(losses["loss"]!.isFinite)
    }

    @Test func ganStepUpdatesBothGroupsAndFreezesTheDiscriminatorForTheGenerator() throws {
        let gan = DCGAN(seed: 4)
        let before = (gan.generatorGroup.flatValues, gan.discriminatorGroup.flatValues)
        var reductions: [String] = []
        let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 1)), globalBatch: 4, rank: 0, worldSize: 1,
                                  reduceGradients: { reductions.append($0.name) }, reduceSum: { _ in })
        let losses = try gan.trainStep(TrainingBatch(images: images(2, seed: 6, low: -1, high: 1)), context: context)
        #expect(reductions == ["discriminator", "discriminator", "generator"])
        #expect(gan.generatorGroup.flatValues != before.0 && gan.discriminatorGroup.flatValues != before.1)
        #expect(gan.discriminatorGroup.isTrainable)
        #expect(losses.keys.sorted() == ["d_loss_fake", "d_loss_real", "g_loss"])
    }

    @Test func sharesSplitTheBatchEvenlyAndContiguously() {
        #expect((0..<3).map { BatchShare(of: 128, rank: $0, worldSize: 3).samples } == [0..<43, 43..<86, 86..<128])
        #expect((0..<4).map { BatchShare(of: 2, rank: $0, worldSize: 4).count } == [1, 1, 0, 0])
        let share = BatchShare(of: 128, rank: 2, worldSize: 3)
        #expect(share.meanWeight == Float(42) / 128 && share.sumWeight == Float(1) / 128)
    }
}
