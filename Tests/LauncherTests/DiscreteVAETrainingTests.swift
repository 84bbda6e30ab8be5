@testable import DistributedTraining
import Foundation
import Testing

/// The discrete VAE's job through the real trainer under mpirun (its 1-, 2- and 3-rank parameters: the equivalence test).
@Suite(.serialized) struct DiscreteVAETrainingTests {
    /// The test-set negative ELBO on the 1,000 test bags, in nats per image, is reconstruction + KL and the same on 1 and
    /// 2 ranks; the run writes samples from the prior and reconstructions of test images.
    @Test func negativeELBOIsShardedExactlyAndThePicturesAreWritten() throws {
        var records: [[String: Any]] = []
        for ranks in [1, 2] {
            let output = runFolder("dvae-\(ranks)")
            let result = try train("dvae-fashion", ranks: ranks, output: output,
                                   ["--set", "train.steps=2", "--set", "train.batch_size=8", "--set", "data.classes=[8]",
                                    "--set", "eval.every_epochs=1", "--set", "eval.metrics=[loss]"])
            #expect(result.status == 0 && result.output.contains("validation loss") && result.output.contains("(kl "), "\(result.output)")
            let text = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8)
            let lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            records.append(try #require(lines.last { $0["event"] as? String == "eval" }))
            #expect(lines.first?["temperature"] as? Double == 1)
            for picture in ["samples", "reconstructions", "samples-step-00000002"] {
                #expect(FileManager.default.fileExists(atPath: "\(output)/\(picture).png"), "\(picture).png missing")
            }
        }
        for record in records {
            let (loss, reconstruction, divergence) = (try #require(record["validation_loss"] as? Double),
                                                      try #require(record["validation_reconstruction"] as? Double),
                                                      try #require(record["validation_kl"] as? Double))
            #expect(abs(loss - reconstruction - divergence) <= 1e-9 * loss && divergence > 0 && reconstruction > 100, "\(record)")
            #expect(record["n_real"] as? Int == 1000)
        }
        let values = try records.map { try #require($0["validation_loss"] as? Double) }
        #expect(abs(values[0] - values[1]) <= 1e-5 * values[0], "\(values)")
    }
}
