import Testing
@testable import Models
@testable import TensorCore

@Suite struct SAGANTests {
    /// Every convolution and dense kernel of both networks is spectrally normalised: each has its u and v as replicated
    /// state, sized as PyTorch's matrix view (rows: the layer's outputs).
    @Test func everyKernelHasItsSpectralNormVectors() {
        let gan = SAGAN(seed: 1)
        for group in gan.groups {
            let kernels = group.entries.filter { $0.name.hasSuffix(".kernel") }
            #expect(kernels.count == (group.name == "generator" ? 8 : 9), "\(group.name): \(kernels.map(\.name))")
            #expect(group.stateEntries.count == 2 * kernels.count)
            for kernel in kernels {
                let layer = kernel.name.dropLast(".kernel".count)
                let u = group.stateEntries.first { $0.name == layer + ".u" }, v = group.stateEntries.first { $0.name == layer + ".v" }
                #expect(u?.agreement == .replicated && v?.agreement == .replicated, "\(kernel.name)")
                #expect((u?.count ?? 0) * (v?.count ?? 0) == kernel.count, "\(kernel.name)")
            }
        }
        #expect(gan.generator.spectralNorms.count == 8 && gan.discriminator.spectralNorms.count == 9)
        // Transposed convolutions' rows are their output channels (PyTorch's dim 1).
        #expect(gan.generator.upsampling.spectralNorm!.u.entry.count == 128 && gan.generator.dense.spectralNorm!.u.entry.count == 12_544)
        let generated = gan.sample(0..<2, random: CounterRandom(seed: 1))
        #expect(generated.shape == [2, 1, 28, 28] && generated.scalars.allSatisfy { abs($0) <= 1 })
        #expect(withoutGradient { gan.discriminator(Variable(generated)) }.shape == [2, 1])
    }

    /// The discriminator's loss from one pass over real and fake images is the hinge loss of two separate passes.
    @Test func hingeLossesMatchTheirDefinitions() {
        let gan = SAGAN(seed: 2)
        let real = images(3, seed: 3, low: -1, high: 1), fake = images(3, seed: 4, low: -1, high: 1)
        let (total, realLoss, fakeLoss) = withoutGradient { gan.discriminatorLoss(real: real, fake: fake, weight: 0.5) }
        let realScores = withoutGradient { gan.discriminator(Variable(real)) }.value.scalars
        let fakeScores = withoutGradient { gan.discriminator(Variable(fake)) }.value.scalars
        let expectedReal = realScores.map { max(0, 1 - $0) }.reduce(0, +) / 3 * 0.5
        let expectedFake = fakeScores.map { max(0, 1 + $0) }.reduce(0, +) / 3 * 0.5
        #expect(abs(realLoss.value.scalar - expectedReal) < 1e-5 && abs(fakeLoss.value.scalar - expectedFake) < 1e-5)
        #expect(abs(total.value.scalar - expectedReal - expectedFake) < 1e-5)
        // Scores of an untrained, normalised D are moderate: both hinges are active.
        #expect((realScores + fakeScores).allSatisfy { abs($0) < 1 }, "\(realScores) \(fakeScores)")
        let z = CounterRandom(seed: 5).normalTensor(stream: 1, step: 0, samples: 0..<2, shape: [100])
        let scores = withoutGradient { gan.discriminator(gan.generator(Variable(z))) }.value.scalars
        #expect(abs(withoutGradient { gan.generatorLoss(z, weight: 1) }.value.scalar + (scores[0] + scores[1]) / 2) < 1e-5)
    }

    /// A step runs D's power iteration, D's update, G's power iteration and G's update through the frozen D, in that
    /// order: the vectors after it are one iteration from the kernels each network had when its update began.
    @Test func aStepIteratesTheVectorsOnceAndUpdatesBothGroups() throws {
        let gan = SAGAN(seed: 4)
        let before = (gan.generatorGroup.flatValues, gan.discriminatorGroup.flatValues)
        // Expected vectors: one power iteration from the initial kernels (G's kernels do not change before G's iteration).
        let reference = SAGAN(seed: 4)
        for norm in reference.discriminator.spectralNorms + reference.generator.spectralNorms { norm.powerIteration() }
        var reductions: [String] = []
        let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 1)), globalBatch: 4, rank: 0, worldSize: 1,
                                  reduceGradients: { reductions.append($0.name) }, reduceSum: { _ in })
        let losses = try gan.trainStep(TrainingBatch(images: images(2, seed: 6, low: -1, high: 1)), context: context)
        #expect(reductions == ["discriminator", "generator"])
        #expect(gan.generatorGroup.flatValues != before.0 && gan.discriminatorGroup.flatValues != before.1)
        #expect(gan.discriminatorGroup.isTrainable)
        #expect(losses.keys.sorted() == ["d_loss", "d_loss_fake", "d_loss_real", "g_loss"])
        #expect(abs(losses["d_loss"]! - losses["d_loss_real"]! - losses["d_loss_fake"]!) < 1e-5)
        for (group, expected) in zip(gan.groups, reference.groups) {
            let (state, reference) = (Array(UnsafeBufferPointer(start: group.state.pointer, count: group.state.count)),
                                      Array(UnsafeBufferPointer(start: expected.state.pointer, count: expected.state.count)))
            #expect(state == reference, "\(group.name)")
        }
    }
}
