import ArgumentParser
import DataIO
import DistributedTraining
import Foundation
import Models
import TensorCore

/// Times full training steps (forward, backward, optimizer) of the course's models.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps of a model: median ms/step, images/s, GFLOP/s, peak memory.")

    /// What a benchmark times: a registered model's training steps, or one of the platform's parts.
    enum Subject: Equatable {
        case model(ModelDescription)
        case sgemm, evaluator, metrics, allreduce

        static func == (left: Subject, right: Subject) -> Bool { left.name == right.name }

        var name: String {
            switch self {
            case .model(let description): description.name
            case .sgemm: "sgemm"
            case .evaluator: "evaluator"
            case .metrics: "metrics"
            case .allreduce: "allreduce"
            }
        }
    }

    @Argument(help: ArgumentHelp("""
        A model's training steps (\(ModelRegistry.all.map(\.name).joined(separator: ", "))), sgemm (the BLAS rate on \
        1024x1024 matrices, the yardstick for convolutions), evaluator (feature extraction, images/s; under mpirun: all \
        ranks together), metrics (FID, KID and IS on 10,000 vs 10,000 feature rows), allreduce (the gradient reducer \
        against one bare MPI_Allreduce of the same buffer, under --ranks).
        """, valueName: "subject"))
    var subjectName: String
    @Option(help: "Classes of the training images a model trains on, comma-separated (default: all).") var classes: String?
    @Option(help: "Global batch size.") var batch = 128
    @Option(help: "Timed steps.") var steps = 20
    @Option(help: "Untimed warm-up steps.") var warmup = 5
    @Option(help: "BLAS threads.") var threads = 1
    @Option(help: "Folder of IDX files (the batches are real images).") var data = ImageDataset.fashionMNISTFolder
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Ranks: the step runs data-parallel through mpirun, alternating with 1 rank to give the speedup.") var ranks = 1
    @Option(help: "Alternating rounds of 1 rank and --ranks ranks.") var rounds = 2
    @Option(help: "Gradient bucket size (MB) with --ranks.") var bucketMb = 4.0
    @Option(help: """
        allreduce: floats in the reduced buffer, comma-separated for a message-size sweep (one JSON line per size; \
        default: the course GAN's two groups, 2444418).
        """) var floats: String?
    @Option(help: """
        Convolution algorithms, comma-separated (onednn, im2col; default $GENTRAIN_CONVOLUTION or onednn). With two or \
        more, steps alternate between them in one process and each is reported with its step-by-step ratio to the first.
        """) var convolution: String?
    @Flag(help: .hidden) var inWorld = false

    /// The algorithms `--convolution` names (the default algorithm alone when not given).
    func convolutionAlgorithms() throws -> [ConvolutionAlgorithm] {
        guard let convolution else { return [ConvolutionAlgorithm.current] }
        return try convolution.split(separator: ",").map { name in
            guard let algorithm = ConvolutionAlgorithm(rawValue: name.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ValidationError("--convolution: '\(name)' is not one of \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return algorithm
        }
    }

    /// The subject the argument names.
    var subject: Subject {
        get throws {
            switch subjectName.lowercased() {
            case "sgemm": return .sgemm
            case "evaluator": return .evaluator
            case "metrics", "fid": return .metrics
            case "allreduce": return .allreduce
            case let name:
                guard let description = ModelRegistry.named(name) else {
                    throw ValidationError("'\(subjectName)' is not a model (\(ModelRegistry.all.map(\.name).joined(separator: ", "))) "
                                          + "nor sgemm, evaluator, metrics or allreduce")
                }
                return .model(description)
            }
        }
    }

    /// The registered model a step benchmark trains.
    func benchedModel() throws -> ModelDescription {
        guard case .model(let description) = try subject else { throw ValidationError("bench \(subjectName) does not train a model") }
        return description
    }

    func run() throws {
        let subject = try subject
        if ranks > 1 && !inWorld {
            guard subject == .allreduce || subject.isModel else {
                throw ValidationError("bench \(subject.name) runs on one process; --ranks is for a model's steps and allreduce")
            }
            return try benchAcrossRanks()
        }
        if subject == .allreduce { return try benchAllReduce() }
        if inWorld { return try benchInWorld() }
        BLASThreads.set([.sgemm, .metrics].contains(subject) ? threads : blasThreadsForWorkers())
        if subject == .sgemm { return try benchSgemm() }
        if subject == .metrics { return try benchMetrics() }
        if subject == .evaluator { return try Parallelism.$threads.withValue(threads) { try benchEvaluator() } }
        let description = try benchedModel()
        let dataset = try trainingData(for: description)
        let trainable = description.make(ModelConfiguration(schema: description.schema, seed: 0, sampleShape: dataset.sampleShape, batchSize: batch))
        let stepBatch = description.stepBatch(globalBatch: batch, datasetCount: dataset.count)
        var generator = SeededGenerator(seed: 0)
        // What a data-parallel step would sum across ranks, call by call (the scaling model's messages): recorded, not sent.
        var reducedFloats: [Int] = [], reducedDoubles: [Int] = []
        func step(_ index: Int) throws {
            let indices = benchedSamples(description, datasetCount: dataset.count, generator: &generator)
            let images = dataset.batch(indices, scaling: trainable.scaling)
            let record = index == 0
            let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 0), step: UInt64(index)),
                                      globalBatch: stepBatch, rank: 0, worldSize: 1,
                                      reduceGradients: { if record { reducedFloats.append($0.parameterCount) } },
                                      reduceSum: { if record { reducedDoubles.append($0.count) } })
            _ = try trainable.trainStep(TrainingBatch(images: images, labels: dataset.labels(indices)), context: context)
        }
        let algorithms = try convolutionAlgorithms()
        let counter = FlopCounter()
        var times = [[Double]](repeating: [], count: algorithms.count)
        try Parallelism.$threads.withValue(threads) {
            try FlopCounter.$current.withValue(counter) { try step(0) }
            for algorithm in algorithms {
                try ConvolutionAlgorithm.$current.withValue(algorithm) { for index in 0..<warmup { try step(index + 1) } }
            }
            // With several algorithms the steps alternate, so the machine's drift hits them alike.
            for index in 0..<steps {
                for (position, algorithm) in algorithms.enumerated() {
                    let start = DispatchTime.now().uptimeNanoseconds
                    try ConvolutionAlgorithm.$current.withValue(algorithm) { try step(warmup + 1 + index) }
                    times[position].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
            }
        }
        let gflop = counter.operations / 1e9
        for (position, algorithm) in algorithms.enumerated() {
            let sorted = times[position].sorted(), medianTime = median(sorted)
            var result: [String: Any] = [
                "framework": "gentrain", "version": gentrainVersion, "model": description.name, "batch": stepBatch, "threads": threads,
                "steps": steps, "ms_median": round2(medianTime), "ms_min": round2(sorted.first!), "ms_max": round2(sorted.last!),
                "ms_mean": round2(sorted.reduce(0, +) / Double(sorted.count)),
                "img_s": round2(Double(stepBatch) / medianTime * 1000), "gflop_step": round2(gflop),
                "gflops_achieved": round2(gflop / medianTime * 1000), "peak_rss_mb": round2(peakResidentMegabytes()),
                "blas_core": BLASThreads.coreName, "convolution": algorithm.rawValue,
                "reduced_floats": reducedFloats, "reduced_doubles": reducedDoubles,
            ]
            // Each step against the first algorithm's step next to it: above 1 means slower than the first.
            let pairedRatio = median(zip(times[position], times[0]).map { $0 / $1 })
            if position > 0 { result["paired_ratio_to_\(algorithms[0].rawValue)"] = (pairedRatio * 1000).rounded() / 1000 }
            if json {
                let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(String(format: "%@ batch %d, %d thread(s), %@ convolutions: median %.1f ms/step (min %.1f, max %.1f), %.0f img/s, %.2f GFLOP/step, %.1f GFLOP/s, peak RSS %.0f MB",
                             description.name, stepBatch, threads, algorithm.rawValue, medianTime, sorted.first!, sorted.last!,
                             Double(stepBatch) / medianTime * 1000, gflop, gflop / medianTime * 1000, peakResidentMegabytes())
                      + (position > 0 ? String(format: "; step by step %.3fx the time of %@", pairedRatio, algorithms[0].rawValue) : ""))
            }
        }
    }
}

func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

extension Bench.Subject {
    var isModel: Bool {
        if case .model = self { return true }
        return false
    }
}

extension Bench {
    /// The global batch of one benchmarked step: every sample once, in order, for a model fitted to the whole data set
    /// each step (EM); else the batch's real images drawn with replacement.
    func benchedSamples(_ description: ModelDescription, datasetCount: Int, generator: inout SeededGenerator) -> [Int] {
        if description.schema.data.realImagesPerStep == .wholeDataset { return Array(0..<datasetCount) }
        return (0..<description.realImagesPerStep(globalBatch: batch, datasetCount: datasetCount)).map { _ in
            Int(generator.next() % UInt64(datasetCount))
        }
    }

    /// The images a model trains on: the training split, or its `--classes` (the full split is released before training starts).
    func trainingData() throws -> ImageDataset {
        let training = try ImageDataset.load(folder: data, split: .train)
        guard let classes else { return training }
        let chosen = classes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !chosen.isEmpty, chosen.allSatisfy({ (0...9).contains($0) }) else { throw ValidationError("--classes: expected classes 0...9, e.g. 8 or 7,9") }
        return training.filtered(classes: Set(chosen))
    }

    /// The samples a model's steps take: the images, or each image row by row (28 steps of 28 pixels) for a model of
    /// sequences, as `gentrain train` gives them to it.
    func trainingData(for description: ModelDescription) throws -> any TrainingData {
        let images = try trainingData()
        return description.schema.data.samples == .sequences ? ImageRowSequences(images) : images
    }

    /// Times `C = A B` on 1024 x 1024 Float32 matrices through the same OpenBLAS the convolutions use.
    func benchSgemm() throws {
        let size = 1024
        var generator = SeededGenerator(seed: 0)
        let a = generator.uniformTensor([size, size]), b = generator.uniformTensor([size, size])
        let c = Tensor(zeros: [size, size])
        for _ in 0..<max(warmup, 1) { matmulKernel(c.sharedWritePointer, a.readPointer, b.readPointer, m: size, n: size, k: size) }
        var times: [Double] = []
        for _ in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            matmulKernel(c.sharedWritePointer, a.readPointer, b.readPointer, m: size, n: size, k: size)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let gflops = 2 * Double(size * size * size) / median(times) / 1e6
        let result: [String: Any] = ["framework": "gentrain", "model": "sgemm", "size": size, "threads": threads,
                                     "ms_median": round2(median(times)), "gflops_median": round2(gflops),
                                     "gflops_best": round2(2 * Double(size * size * size) / times.min()! / 1e6), "blas_core": BLASThreads.coreName]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "sgemm %dx%d, %d thread(s): %.1f GFLOP/s median (OpenBLAS %@)", size, size, threads, gflops, BLASThreads.coreName))
        }
    }
}
