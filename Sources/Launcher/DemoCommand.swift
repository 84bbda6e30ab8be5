import ArgumentParser
import DataIO
import DistributedTraining
import Foundation
import Models
import TensorCore

/// Trains the course's autoencoder for a short while on one process and writes pictures and metrics.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the autoencoder briefly on Fashion-MNIST; write reconstructions, an interpolation strip and metrics.")

    @Option(help: "Optimizer steps.") var steps = 300
    @Option(help: "Batch size.") var batch = 128
    @Option(help: "Folder of IDX files.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Output folder.") var output = "runs/demo-autoencoder"
    @Option(help: "BLAS threads.") var threads = 1
    @Option(help: "Seed of initialisation and shuffling.") var seed: UInt64 = 1

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() throws {
        BLASThreads.set(blasThreadsForWorkers())
        try Parallelism.$threads.withValue(threads) { try train() }
    }

    func train() throws {
        let train = try ImageDataset.load(folder: data, split: .train)
        let test = try ImageDataset.load(folder: data, split: .test)
        guard batch <= train.count else {
            throw ValidationError("--batch \(batch) is larger than the \(train.count) training images in \(data)")
        }
        guard test.count >= 2 else { throw ValidationError("\(data): the test split needs at least 2 images for the pictures") }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let metrics = try JSONLinesWriter(path: output + "/metrics.jsonl")
        let model = Autoencoder(seed: seed)
        var generator = SeededGenerator(seed: seed)
        var order = Array(0..<train.count).shuffled(using: &generator)
        var position = 0
        var progress = ProgressReporter(total: steps, unit: "steps")
        for step in 0..<steps {
            if position + batch > order.count {
                order.shuffle(using: &generator)
                position = 0
            }
            let images = train.batch(order[position..<(position + batch)], scaling: .unit)
            position += batch
            let context = StepContext(forward: ForwardContext(training: true, step: UInt64(step)), globalBatch: batch)
            let loss = model.trainStep(TrainingBatch(images: images), context: context)["loss"]!
            if step % 10 == 0 || step == steps - 1 { try metrics.write(["step": step + 1, "loss": Double(loss)]) }
            try progress.update(step + 1, detail: String(format: "loss %.5f", loss))
        }
        let evaluation = test.batch(0..<min(1000, test.count), scaling: .unit)
        let testLoss = withoutGradient { meanSquaredError(model.decode(model.encode(Variable(evaluation))), evaluation).value.scalar }
        try metrics.write(["step": steps, "test_mse": Double(testLoss), "test_images": evaluation.shape[0]])
        let originals = test.batch(0..<min(10, test.count), scaling: .unit)
        let reconstructions = withoutGradient { model.decode(model.encode(Variable(originals))).value }
        let pairs = concatenate([Variable(originals), Variable(reconstructions)], axis: 0).value
        try imageGrid(pairs, columns: 10).writePNG(to: output + "/reconstructions.png")
        let strip = model.interpolate(test.batch([0], scaling: .unit), test.batch([1], scaling: .unit))
        try imageGrid(strip, columns: 11).writePNG(to: output + "/interpolation.png")
        print(String(format: "test MSE %.5f over %d images", testLoss, evaluation.shape[0]))
        print("wrote \(output)/reconstructions.png (top: test images, bottom: reconstructions), \(output)/interpolation.png, \(output)/metrics.jsonl")
    }
}
