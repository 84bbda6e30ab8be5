import ArgumentParser
import Communication
import DataIO
import DistributedTraining
import Evaluation
import Foundation
import JobFiles
import LaunchPlanning
import Models
import TensorCore

extension Bench {
    /// `--ranks N` outside MPI: alternately 1 rank and N ranks (each through mpirun), then the speedup.
    func benchAcrossRanks() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let mpirun = findExecutable("mpirun", path: environment["PATH"], isExecutable: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ValidationError("mpirun not found on PATH")
        }
        let binary = InstalledFiles.runningExecutable
        var childEnvironment = environment
        if getuid() == 0 { childEnvironment.merge(["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]) { $1 } }
        /// Every JSON line of one mpirun (one per message size for an allreduce sweep).
        func measureLines(_ worldSize: Int) throws -> [[String: Any]] {
            let arguments = ["-n", "\(worldSize)", "--bind-to", "none", "--oversubscribe", binary, "bench", subjectName, "--in-world", "--json",
                             "--batch", "\(batch)", "--steps", "\(steps)", "--warmup", "\(warmup)", "--threads", "\(threads)",
                             "--bucket-mb", "\(bucketMb)", "--data", data] + (classes.map { ["--classes", $0] } ?? [])
                + (floats.map { ["--floats", $0] } ?? [])
            let process = Process(), pipe = Pipe()
            process.executableURL = URL(fileURLWithPath: mpirun)
            process.arguments = arguments
            process.environment = childEnvironment
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("{") }
            let objects = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            guard process.terminationStatus == 0, !objects.isEmpty else {
                throw ValidationError("the \(worldSize)-rank benchmark failed (exit \(process.terminationStatus))")
            }
            return objects
        }
        func measure(_ worldSize: Int) throws -> [String: Any] { try measureLines(worldSize).last! }
        func medianOf(_ runs: [[String: Any]], _ key: String) -> Double { median(runs.compactMap { ($0[key] as? NSNumber)?.doubleValue }) }
        let subject = try subject
        if subject == .allreduce {
            // Round by round, one line per message size; then the medians of each size's rounds.
            var sizes: [[[String: Any]]] = []
            for _ in 0..<max(rounds, 1) {
                for (position, line) in try measureLines(ranks).enumerated() {
                    if position == sizes.count { sizes.append([]) }
                    sizes[position].append(line)
                }
            }
            for runs in sizes {
                var result = runs.last!
                for key in ["bare_gb_s", "reducer_gb_s", "reducer_vs_bare", "bare_ms", "reducer_ms"] { result[key] = round2(medianOf(runs, key)) }
                for key in ["bare_us", "reducer_us"] { result[key] = (medianOf(runs, key) * 10).rounded() / 10 }
                result["rounds"] = max(rounds, 1)
                if json {
                    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    print(String(format: "all-reduce of %@ floats on %d ranks, medians of %d rounds: reducer (%.1f MB buckets) %.2f GB/s, "
                                 + "one bare MPI_Allreduce %.2f GB/s: %.0f%%", "\(result["floats"] ?? "?")", ranks, max(rounds, 1), bucketMb,
                                 medianOf(runs, "reducer_gb_s"), medianOf(runs, "bare_gb_s"), 100 * medianOf(runs, "reducer_vs_bare")))
                }
            }
            return
        }
        var singles: [[String: Any]] = [], multiples: [[String: Any]] = []
        for _ in 0..<max(rounds, 1) {
            singles.append(try measure(1))
            multiples.append(try measure(ranks))
        }
        var result = multiples.last!
        let (one, many) = (medianOf(singles, "img_s"), medianOf(multiples, "img_s"))
        result["img_s"] = round2(many)
        result["img_s_1rank"] = round2(one)
        result["speedup"] = round2(many / one)
        result["comm_ms"] = round2(medianOf(multiples, "comm_ms"))
        result["ms_median"] = round2(medianOf(multiples, "ms_median"))
        result["rounds"] = max(rounds, 1)
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@ batch %d on %d ranks x %d thread(s): %.0f img/s against %.0f on 1 rank: speedup %.2fx; %.1f ms/step, %.1f ms of it in all-reduces (medians of %d rounds)",
                         subject.name, batch, ranks, threads, many, one, many / one, medianOf(multiples, "ms_median"),
                         medianOf(multiples, "comm_ms"), max(rounds, 1)))
        }
    }

    /// Inside the MPI world: every rank trains its share of each global batch, gradients summed by the
    /// trainer's reducer; rank 0 prints the slowest rank's median step time and communication time.
    func benchInWorld() throws {
        try runOnWorld("bench") { communicator in
            // As on one process (and as `gentrain train`): OpenBLAS's own threads would compete with the other ranks.
            BLASThreads.set(blasThreadsForWorkers())
            let (description, dataset) = try agreeOnSuccess(communicator) { () throws -> (ModelDescription, any TrainingData) in
                let description = try benchedModel()
                return (description, try trainingData(for: description))
            }
            let trainable = description.make(ModelConfiguration(schema: description.schema, seed: 0, sampleShape: dataset.sampleShape, batchSize: batch))
            let reducer = GradientReducer(communicator: communicator, bucketMegabytes: bucketMb, watchdog: nil)
            let stepBatch = description.stepBatch(globalBatch: batch, datasetCount: dataset.count)
            let perStep = description.realImagesPerStep(globalBatch: batch, datasetCount: dataset.count)
            let positions = BatchShare(of: perStep, rank: communicator.rank, worldSize: communicator.size).samples
            var generator = SeededGenerator(seed: 0)
            func step(_ index: Int) throws {
                let indices = Array(benchedSamples(description, datasetCount: dataset.count, generator: &generator)[positions])
                let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 0), step: UInt64(index)),
                                          globalBatch: stepBatch, rank: communicator.rank, worldSize: communicator.size,
                                          reduceGradients: { try reducer.reduce($0, step: index) },
                                          reduceSum: { try reducer.sum(&$0, step: index) })
                _ = try trainable.trainStep(TrainingBatch(images: dataset.batch(indices, scaling: trainable.scaling), labels: dataset.labels(indices)),
                                            context: context)
            }
            var times: [Double] = [], communication: [Double] = []
            try Parallelism.$threads.withValue(threads) {
                for index in 0...warmup { try step(index) }
                for index in 0..<steps {
                    try communicator.barrier()
                    let (start, before) = (DispatchTime.now().uptimeNanoseconds, reducer.communicationSeconds)
                    try step(warmup + 1 + index)
                    var measured = [Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, (reducer.communicationSeconds - before) * 1000]
                    try communicator.allReduceMaximum(&measured, count: 2)
                    times.append(measured[0])
                    communication.append(measured[1])
                }
            }
            guard communicator.rank == 0 else { return }
            let result: [String: Any] = [
                "framework": "gentrain", "model": description.name, "batch": stepBatch, "threads": threads, "ranks": communicator.size,
                "steps": steps, "ms_median": round2(median(times)), "img_s": round2(Double(stepBatch) / median(times) * 1000),
                "comm_ms": round2(median(communication)), "bucket_mb": bucketMb, "peak_rss_mb": round2(peakResidentMegabytes()),
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        }
    }

    /// The message sizes `--floats` names (default: the course GAN's two groups, 2.44 M floats).
    func allReduceSizes() throws -> [Int] {
        guard let floats else { return [1_923_073 + 521_345] }
        return try floats.split(separator: ",").map { text in
            guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size > 0 else {
                throw ValidationError("--floats: '\(text)' is not a positive number of floats")
            }
            return size
        }
    }

    /// The reducer (buckets of --bucket-mb) against one bare MPI_Allreduce of the same buffer, for each size of
    /// `--floats`: median of --steps, algorithm bandwidth (bytes / time); one JSON line per size.
    func benchAllReduce() throws {
        let sizes = try allReduceSizes()
        try runOnWorld("bench") { communicator in
            for floats in sizes { try benchAllReduce(floats: floats, communicator: communicator) }
        }
    }

    /// One message size: both timed --steps times after --warmup, each the slowest rank's time from a common barrier.
    private func benchAllReduce(floats: Int, communicator: Communicator) throws {
        let group = ParameterGroup(name: "bench", seed: 0)
        _ = group.register("buffer", initial: Tensor(repeating: 1e-3, shape: [floats]))
        let reducer = GradientReducer(communicator: communicator, bucketMegabytes: bucketMb, watchdog: nil)
        var bareTimes: [Double] = [], reducerTimes: [Double] = []
        for round in 0..<(warmup + steps) {
            try communicator.barrier()
            var start = DispatchTime.now().uptimeNanoseconds
            try communicator.allReduceSum(group.gradients.pointer, count: floats)
            var bare = [Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9]
            try communicator.barrier()
            start = DispatchTime.now().uptimeNanoseconds
            try reducer.reduce(group, step: round)
            var bucketed = [Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9]
            try communicator.allReduceMaximum(&bare, count: 1)
            try communicator.allReduceMaximum(&bucketed, count: 1)
            if round >= warmup {
                bareTimes.append(bare[0])
                reducerTimes.append(bucketed[0])
            }
        }
        guard communicator.rank == 0 else { return }
        let bytes = Double(floats * 4)
        let result: [String: Any] = [
            "framework": "gentrain", "model": "allreduce", "ranks": communicator.size, "floats": floats, "bucket_mb": bucketMb,
            "bare_ms": round2(median(bareTimes) * 1000), "reducer_ms": round2(median(reducerTimes) * 1000),
            "bare_gb_s": round2(bytes / median(bareTimes) / 1e9), "reducer_gb_s": round2(bytes / median(reducerTimes) / 1e9),
            "reducer_vs_bare": round2(median(bareTimes) / median(reducerTimes)),
            "bare_us": (median(bareTimes) * 1e7).rounded() / 10, "reducer_us": (median(reducerTimes) * 1e7).rounded() / 10,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }
}
