import ArgumentParser
import DataIO
import Foundation
import Models
import TensorCore

/// Times full training steps (forward, backward, optimizer) of the course's models.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps of a model: median ms/step, images/s, GFLOP/s, peak memory.")

    enum ModelName: String, ExpressibleByArgument, CaseIterable {
        case autoencoder, vae, dcgan
        init?(argument: String) {
            switch argument.lowercased() {
            case "autoencoder", "ae": self = .autoencoder
            case "vae": self = .vae
            case "dcgan": self = .dcgan
            default: return nil
            }
        }
    }

    @Argument(help: "autoencoder (ae), vae or dcgan.") var model: ModelName
    @Option(help: "Global batch size.") var batch = 128
    @Option(help: "Timed steps.") var steps = 20
    @Option(help: "Untimed warm-up steps.") var warmup = 5
    @Option(help: "BLAS threads.") var threads = 1
    @Option(help: "Folder of IDX files (the batches are real images).") var data = ImageDataset.fashionMNISTFolder
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        BLASThreads.set(threads)
        let dataset = try ImageDataset.load(folder: data, split: .train)
        let trainable: any TrainableModel
        switch model {
        case .autoencoder: trainable = Autoencoder(seed: 0)
        case .vae: trainable = VariationalAutoencoder(seed: 0)
        case .dcgan: trainable = DCGAN(seed: 0)
        }
        let perStep = trainable.realImagesPerStep(globalBatch: batch)
        var generator = SeededGenerator(seed: 0)
        func step(_ index: Int) {
            let indices = (0..<perStep).map { _ in Int(generator.next() % UInt64(dataset.count)) }
            let images = dataset.batch(indices, scaling: trainable.scaling)
            let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 0), step: UInt64(index)),
                                      globalBatch: batch)
            trainable.trainStep(images, context: context)
        }
        let counter = FlopCounter()
        FlopCounter.$current.withValue(counter) { step(0) }
        for index in 0..<warmup { step(index + 1) }
        var times: [Double] = []
        for index in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            step(warmup + 1 + index)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        let gflop = counter.operations / 1e9
        let result: [String: Any] = [
            "framework": "gentrain", "version": gentrainVersion, "model": model.rawValue, "batch": batch, "threads": threads,
            "steps": steps, "ms_median": round2(median), "ms_min": round2(times.first!), "ms_max": round2(times.last!),
            "img_s": round2(Double(batch) / median * 1000), "gflop_step": round2(gflop),
            "gflops_achieved": round2(gflop / median * 1000), "peak_rss_mb": round2(peakResidentMegabytes()),
            "blas_core": BLASThreads.coreName,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "%@ batch %d, %d thread(s): median %.1f ms/step (min %.1f, max %.1f), %.0f img/s, %.2f GFLOP/step, %.1f GFLOP/s, peak RSS %.0f MB",
                         model.rawValue, batch, threads, median, times.first!, times.last!, Double(batch) / median * 1000,
                         gflop, gflop / median * 1000, peakResidentMegabytes()))
        }
    }
}

func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }
