import ArgumentParser
import Communication
import DataIO
import DistributedTraining
import Evaluation
import Foundation
import TensorCore

extension Bench {
    /// Times the default extractor on test images (batches of `batch`), on every rank of the MPI world:
    /// each rank takes its share of `steps` batches; the rate counts all ranks' images over the slowest rank's time.
    func benchEvaluator() throws {
        try runOnWorld("bench") { communicator in
            let extractor = try agreeOnSuccess(communicator) { try CheckpointExtractor(path: CheckpointExtractor.locate(nil)) }
            let images = try agreeOnSuccess(communicator) { try ImageDataset.load(folder: data, split: .test) }
            let total = min(steps * batch, images.count)
            let rows = FeatureShard.rows(of: total, rank: communicator.rank, worldSize: communicator.size)
            _ = extractFeatures(rows: 0..<min(batch, images.count), total: images.count, batchSize: batch, extractor: extractor) {
                images.batch($0, scaling: .unit)
            }
            var times: [Double] = []
            for _ in 0..<3 {
                try communicator.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                _ = extractFeatures(rows: rows, total: total, batchSize: batch, extractor: extractor) { images.batch($0, scaling: .unit) }
                var elapsed = [Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9]
                try communicator.allReduceMaximum(&elapsed, count: 1)
                times.append(elapsed[0])
            }
            guard communicator.rank == 0 else { return }
            let seconds = median(times)
            let result: [String: Any] = [
                "framework": "gentrain", "model": "evaluator", "extractor": extractor.name, "images": total, "batch": batch,
                "ranks": communicator.size, "threads": threads, "seconds_median": round2(seconds * 1000) / 1000,
                "img_s": round2(Double(total) / seconds), "peak_rss_mb": round2(peakResidentMegabytes()),
            ]
            if json {
                print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(String(format: "evaluator: %d images in %.3f s (median of 3) = %.0f images/s on %d rank(s) x %d thread(s), batch %d",
                             total, seconds, Double(total) / seconds, communicator.size, threads, batch))
            }
        }
    }

    /// Times FID, KID (100 subsets of 1000) and IS (10 splits) on 10,000 vs 10,000 rows of 64 features.
    func benchMetrics() throws {
        let (rows, dimension) = (10_000, 64)
        var generator = SeededGenerator(seed: 3)
        let real = (0..<(rows * dimension)).map { _ in Double(generator.normal()) }
        let fake = (0..<(rows * dimension)).map { _ in 0.1 + 1.1 * Double(generator.normal()) }
        let logits = (0..<(rows * 10)).map { _ in 3 * Double(generator.normal()) }
        func time(_ body: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<max(steps, 1) {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            return median(times)
        }
        let fidMilliseconds = try time {
            let a = real.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: dimension) }
            let b = fake.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: dimension) }
            _ = try frechetDistance(a, b)
        }
        let subsets = try KernelSubsets(seed: 0, count: 100, size: 1000, realCount: rows, fakeCount: rows)
        let kidMilliseconds = time { _ = kernelSubsetValues(real: real, fake: fake, dimension: dimension, subsets: subsets, range: 0..<100) }
        let isMilliseconds = try time {
            _ = try logits.withUnsafeBufferPointer { try InceptionScoreSums(logits: $0, classes: 10, firstRow: 0, totalRows: rows, splits: 10).score() }
        }
        let result: [String: Any] = ["framework": "gentrain", "model": "metrics", "rows": rows, "dim": dimension, "threads": threads,
                                     "fid_ms": round2(fidMilliseconds), "kid_ms": round2(kidMilliseconds), "is_ms": round2(isMilliseconds)]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "metrics on %d vs %d rows of %d, %d thread(s), median of %d: FID %.1f ms, KID (100 x 1000) %.1f ms, IS %.1f ms",
                         rows, rows, dimension, threads, max(steps, 1), fidMilliseconds, kidMilliseconds, isMilliseconds))
        }
    }
}
