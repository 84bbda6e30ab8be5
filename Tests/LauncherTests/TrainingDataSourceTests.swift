import DataIO
@testable import DistributedTraining
import Foundation
import JobFiles
import Testing

/// What the trainer hands each kind of model: images, rows, row sequences, or two domains side by side.
@Suite struct TrainingDataSourceTests {
    func job(_ samples: DataSchema, data: String) throws -> Job {
        let schema = ModelSchema(name: "toy", summary: "", options: [], groups: [GroupSchema("model", optimizer: .adam())], data: samples, metrics: [])
        let path = NSTemporaryDirectory() + "gentrain-sources-\(UUID().uuidString).yaml"
        try "name: t\nmodel: {kind: toy}\ndata: \(data)\ntrain: {steps: 1}\n".write(toFile: path, atomically: true, encoding: .utf8)
        return try Job.load(path: path, models: [schema])
    }

    @Test func everyKindOfSampleFromOneFolder() throws {
        let images = try loadTrainingData(try job(.images(scale: "unit", sampling: "epoch"), data: "{classes: [7]}"), samples: .images)
        #expect(images.count == 6000 && images.sampleShape == [1, 28, 28] && images.batch([0, 1], scaling: .unit).shape == [2, 1, 28, 28])
        let rows = try loadTrainingData(try job(.vectors(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeDataset), data: "{classes: [7]}"),
                                        samples: .vectors)
        #expect(rows.sampleShape == [1, 28, 28] && rows.batch([0, 1], scaling: .unit).shape == [2, 784])
        #expect(rows.batch([5], scaling: .unit).scalars == images.batch([5], scaling: .unit).scalars)
        let sequences = try loadTrainingData(try job(.sequences(scale: "unit", sampling: "epoch", realImagesPerStep: .wholeBatch), data: "{classes: [7]}"),
                                             samples: .sequences)
        #expect(sequences.sampleShape == [28, 28] && sequences.batch([5], scaling: .unit).scalars == images.batch([5], scaling: .unit).scalars)
        let domains = try loadTrainingData(try job(.domains(scale: "symmetric", sampling: "epoch"), data: "{domains: [{classes: [7]}, {classes: [9]}]}"),
                                           samples: .domains)
        #expect(domains.count == 6000 && domains.sampleShape == [2, 28, 28] && domains.batch([0, 3], scaling: .symmetric).shape == [2, 2, 28, 28])
        let sneaker = domains.batch([5], scaling: .unit).scalars
        #expect(Array(sneaker.prefix(784)) == images.batch([5], scaling: .unit).scalars)
        #expect(domains.contentDigest != images.contentDigest)
        // A class with no images is named, not trained on.
        #expect { try loadTrainingData(try job(.images(scale: "unit", sampling: "epoch"), data: "{dataset: idx, path: /nonexistent}"), samples: .images) } throws: {
            "\($0)".contains("/nonexistent")
        }
    }
}
