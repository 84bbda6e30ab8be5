import ArgumentParser
import Communication
import DistributedTraining
import Evaluation
import Foundation
import TensorCore

extension Eval {
    /// FID, KID and IS of the images in `--images` against the reference split: the same evaluator, sharding and metrics
    /// as a checkpoint's samples get (each rank reads only its share of the file).
    func evaluateImageFile(_ communicator: Communicator) throws -> [String: Any] {
        guard let images else { throw ValidationError("no --images file given") }
        let asked = metrics.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } } ?? ["fid", "kid", "is"]
        if let unknown = asked.first(where: { !["fid", "kid", "is"].contains($0) }) {
            throw ValidationError("images are scored by fid, kid and is, not '\(unknown)'")
        }
        // Rank 0 reads and checks every image first: a bad file is one line, from one rank.
        let (file, resources) = try onRankZeroFirst(communicator) { () throws -> (ImageFile, EvaluationResources) in
            let resources = try EvaluationResources(dataPath: data, classes: try classes.map(parseClasses), metrics: asked, reference: reference,
                                                    evaluatorPath: evaluator)
            if let limit { resources.limitReference(to: limit) }
            let file = try ImageFile(path: images, height: resources.reference.rows, width: resources.reference.columns)
            if let samples, samples > file.count {
                throw ValidationError("\(images): holds \(file.count) images, fewer than --samples \(samples)")
            }
            guard (samples ?? file.count) >= 2 else { throw ValidationError("\(images): holds \(file.count) image(s); the metrics need at least 2") }
            if communicator.rank == 0 { try file.validate() }
            return (file, resources)
        }
        let count = samples ?? file.count
        let settings = EvaluationSettings(metrics: asked, samples: count, kidSubsets: kidSubsets,
                                          kidSubsetSize: kidSubsetSize ?? min(1000, count, resources.reference.count), seed: seed ?? 0)
        let rows = FeatureShard.rows(of: count, rank: communicator.rank, worldSize: communicator.size)
        let mine = try agreeOnSuccess(communicator) { try file.readImages(rows) }  // [rows.count * H * W]
        let size = file.height * file.width
        var record = try evaluateGeneratedImages(settings: settings, resources: resources, scaling: .unit, communicator: communicator) { range in
            let offset = (range.lowerBound - rows.lowerBound) * size
            return Tensor(shape: [range.count, 1, file.height, file.width], values: Array(mine[offset..<(offset + range.count * size)]))
        }
        record["images"] = images
        record["ranks"] = communicator.size
        return record
    }
}

/// `--classes 3,5`: the class numbers, each 0...9.
func parseClasses(_ text: String) throws -> [Int] {
    let classes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !classes.isEmpty, classes.allSatisfy({ $0.map { (0...9).contains($0) } ?? false }) else {
        throw ValidationError("--classes takes numbers 0...9, e.g. 8 or 3,5")
    }
    return classes.compactMap { $0 }
}
