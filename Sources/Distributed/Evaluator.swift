// The feature extractor behind FID, KID and IS: the checkpoint of any model that labels images
// (gentrain's own Fashion-MNIST classifier by default), identified in every report by name, feature
// dimension and the SHA-256 of its weights.

import Evaluation
import Foundation
import JobFiles
import Models
import TensorCore

/// A trained image classifier used as the feature extractor.
public final class CheckpointExtractor: FeatureExtractor {
    public let classifier: any ImageClassifier
    public let name: String
    public let weightsDigest: String
    public var featureDimension: Int { classifier.featureDimension }
    public var classCount: Int { classifier.classCount }

    /// The evaluator shipped with gentrain (docs/metrics.md says how it was made and how to remake it).
    public static let defaultFileName = "fashion-mnist-classifier.gtck"

    /// Loads the checkpoint of a model that labels images.
    public init(path: String) throws {
        let (job, model, checkpoint) = try loadModel(checkpointPath: path)
        guard let classifier = model as? any ImageClassifier else {
            throw TrainingError(message: "\(path): a \(job.modelKind) checkpoint, which does not label images "
                                + "(an evaluator is trained from a job whose model reports accuracy)")
        }
        self.classifier = classifier
        name = "gentrain-\(job.modelKind)/\(job.name)@\(checkpoint.step)"
        weightsDigest = checkpoint.parametersSHA256
    }

    public func extract(_ images: Tensor) -> (features: Tensor, logits: Tensor) { classifier.extract(images) }

    /// Where the evaluator is: `explicit` if given (`--evaluator`, or the job's `eval.evaluator`), else
    /// `$GENTRAIN_EVALUATOR`, else `evaluators/<default>` in gentrain's shipped files (`<prefix>/share/gentrain` of
    /// an installed gentrain, the checkout of one built there): never the working folder. A missing file is one line
    /// naming every place looked at.
    public static func locate(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                              files: InstalledFiles = .current) throws -> String {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else { throw TrainingError(message: "evaluator \(explicit): no such file") }
            return explicit
        }
        if let fromEnvironment = environment["GENTRAIN_EVALUATOR"], !fromEnvironment.isEmpty {
            guard FileManager.default.fileExists(atPath: fromEnvironment) else {
                throw TrainingError(message: "evaluator \(fromEnvironment) (GENTRAIN_EVALUATOR): no such file")
            }
            return fromEnvironment
        }
        let candidates = files.candidates("evaluators/" + defaultFileName)
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        let looked = candidates.isEmpty ? "no share/gentrain beside \(InstalledFiles.runningExecutable)" : candidates.joined(separator: ", ")
        throw TrainingError(message: "no evaluator found (looked at \(looked); GENTRAIN_EVALUATOR is not set); give eval.evaluator or "
                            + "--evaluator, set GENTRAIN_EVALUATOR, install gentrain with scripts/install.sh, or train one with "
                            + "scripts/train-evaluator.sh")
    }
}
