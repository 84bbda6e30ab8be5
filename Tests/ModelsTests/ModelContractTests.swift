import Foundation
import JobFiles
import Testing
@testable import Models
@testable import TensorCore

/// A model fitted by sums, not gradients: the mean pixel of everything it has seen, kept as replicated state.
final class RunningMean: TrainableModel {
    let group = ParameterGroup(name: "statistics", seed: 0)
    let mean: Parameter
    init() { mean = group.registerState("mean", initial: Tensor(zeros: [1]), agreement: .replicated) }
    var groups: [ParameterGroup] { [group] }
    var scaling: PixelScaling { .unit }
    func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        var sums = [Double(batch.images.count), batch.images.scalars.reduce(0) { $0 + Double($1) }]
        try context.sumAcrossRanks(&sums)
        group.state.pointer[mean.entry.offset] = Float(sums[1] / sums[0])
        return [:]
    }
    func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] { [] }
    func evaluationPictures(random: CounterRandom) -> [Picture] { [] }
}

@Suite struct ModelContractTests {
    /// Every registered model is what its description says: its groups in order, each with an optimizer, and
    /// the capabilities its metrics need.
    @Test(arguments: ModelRegistry.all.map(\.name))
    func registeredModelsMatchTheirDescriptions(name: String) throws {
        let description = try #require(ModelRegistry.named(name))
        let model = description.make(ModelConfiguration(schema: description.schema, seed: 1))
        // The groups trained by gradients are the schema's, in its order; the others hold fitted state only.
        let trained = model.groups.filter { $0.optimizer != nil }
        #expect(trained.map(\.name) == description.schema.groups.map(\.name))
        #expect(trained.allSatisfy { $0.parameterCount > 0 })
        #expect(model.groups.filter { $0.optimizer == nil }.allSatisfy { $0.parameterCount == 0 && $0.state.count + $0.float64State.count > 0 })
        for metric in description.schema.metrics {
            switch metric {
            case "fid", "kid", "is": #expect(model is any ImageSampler, "\(name) reports \(metric) but draws no samples")
            case "loss": #expect(model is any ValidationLoss, "\(name) reports loss but has no validation loss")
            case "accuracy": #expect(model is any ImageClassifier, "\(name) reports accuracy but labels no images")
            default: Issue.record("\(name): unknown metric \(metric)")
            }
        }
        #expect(Set(ModelRegistry.all.map(\.name)).count == ModelRegistry.all.count)
    }

    /// Options and optimizers reach the model from the job; a half-batch model consumes half the batch.
    @Test func jobSettingsReachTheModel() throws {
        let path = NSTemporaryDirectory() + "contract-\(UInt64.random(in: 0...UInt64.max)).yaml"
        try "name: t\nmodel: {kind: dcgan, latent: 7}\ntrain: {steps: 1, optimizers: {discriminator: {kind: sgd, learning_rate: 0.5}}}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let job = try ModelRegistry.loadJob(path: path)
        let gan = try #require(ModelRegistry.makeModel(job) as? DCGAN)
        #expect(gan.latentSize == 7)
        #expect(gan.discriminatorGroup.optimizer is SGD && gan.discriminatorGroup.optimizer?.learningRate == 0.5)
        #expect(gan.generatorGroup.optimizer is Adam && gan.generatorGroup.optimizer?.learningRate == 2e-4)
        #expect(DCGAN.description.realImagesPerStep(globalBatch: 128, datasetCount: 6000) == 64 && Autoencoder.description.realImagesPerStep(globalBatch: 128, datasetCount: 6000) == 128)
    }

    /// Statistics go through the context's reduction: each rank's sums become the global sums.
    @Test func statisticsAreSummedAcrossRanks() throws {
        let all = Tensor(shape: [4, 1, 1, 1], values: [1, 2, 3, 10])
        let pieces = [Tensor(shape: [2, 1, 1, 1], values: [1, 2]), Tensor(shape: [2, 1, 1, 1], values: [3, 10])]
        let otherRank = [2.0, 13.0]
        let model = RunningMean()
        let context = StepContext(forward: ForwardContext(training: true), globalBatch: 4, rank: 0, worldSize: 2,
                                  reduceGradients: { _ in }, reduceSum: { sums in for index in sums.indices { sums[index] += otherRank[index] } })
        _ = try model.trainStep(TrainingBatch(images: pieces[0]), context: context)
        #expect(model.mean.value.scalars == [4])
        let alone = RunningMean()
        _ = try alone.trainStep(TrainingBatch(images: all), context: StepContext(forward: ForwardContext(training: true), globalBatch: 4))
        #expect(alone.mean.value.scalars == model.mean.value.scalars)
    }

    /// A gradient step zeroes, builds, reduces and steps in that order, and a frozen group gets no gradient.
    @Test func descendReducesBeforeTheOptimizerSteps() throws {
        let trained = ParameterGroup(name: "trained", seed: 1, optimizer: SGD(learningRate: 1))
        let frozen = ParameterGroup(name: "frozen", seed: 2, optimizer: SGD(learningRate: 1))
        let a = trained.register("a", initial: Tensor(shape: [1], values: [3]))
        let b = frozen.register("b", initial: Tensor(shape: [1], values: [5]))
        trained.gradients.pointer[0] = 100  // left over from an earlier step: descend must clear it
        let context = StepContext(forward: ForwardContext(training: true), globalBatch: 1, rank: 0, worldSize: 2,
                                  reduceGradients: { group in group.gradients.pointer[0] *= 2 }, reduceSum: { _ in })
        let loss = try context.descend(trained, freezing: [frozen]) { a.variable * b.variable }
        #expect(loss == 15)
        // d(a b)/da = 5, doubled by the "other rank", one SGD step of rate 1: 3 - 10.
        #expect(a.value.scalars == [-7] && b.value.scalars == [5] && frozen.flatGradients == [0] && frozen.isTrainable)
    }

    /// docs/job-files.md describes exactly the registered models (regenerate with `gentrain models --markdown`).
    @Test func jobFileDocumentationDescribesTheRegisteredModels() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/job-files.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let start = try #require(text.range(of: "<!-- models: generated -->\n")), end = try #require(text.range(of: "<!-- end of models -->"))
        #expect(String(text[start.upperBound..<end.lowerBound]) == ModelRegistry.markdownReference,
                "docs/job-files.md is out of date: paste `gentrain models --markdown` between its markers")
    }
}
