// gentrain's evaluator: a small Fashion-MNIST classifier (pixels in [0, 1]). Its penultimate layer
// gives the features for FID and KID and its logits give the Inception Score, in place of
// Inception-v3, whose weights cannot be downloaded here.
// [Conv2D 3x3 same (no bias) -> BatchNorm -> ReLU -> AvgPool 2] x2 (16, then 32 channels) -> Flatten 1568
//   -> Dense(64, ReLU) -> Dropout(0.2) -> Dense(10) = logits. Softmax cross-entropy.
// Features: the 64 values of Dense(64) before its ReLU (after it, a third of them are zero on every
// image, which makes the covariance singular).
// 2.2 MFLOP per image forward; 91-92% test accuracy after 5 epochs of Adam with a step schedule
// (jobs/evaluator-fashion.yaml). Batch normalisation uses each rank's own batch statistics (as
// PyTorch DDP does without SyncBatchNorm), so this model is trained with a fixed number of ranks.

import JobFiles
import TensorCore

/// The classifier and its training step.
public final class Classifier: TrainableModel {
    public static let description = ModelDescription(
        schema: ModelSchema(
            name: "classifier", summary: "gentrain's Fashion-MNIST classifier, the feature extractor behind FID, KID and IS",
            options: [],
            groups: [GroupSchema("model", optimizer: .adam())],
            data: .images(scale: "unit", sampling: "epoch"),
            metrics: ["accuracy"]),
        make: { Classifier(seed: $0.seed, optimizer: $0.optimizer("model")) })

    /// Values per feature row (the penultimate layer).
    public static let featureDimension = 64
    public static let classCount = 10
    public let group: ParameterGroup
    let convolutions: [Conv2D]
    let normalizations: [BatchNormalization]
    let hidden: Dense
    let dropout: Dropout
    let output: Dense

    public init(seed: UInt64, optimizer: any Optimizer = Adam()) {
        group = ParameterGroup(name: "model", seed: seed, optimizer: optimizer)
        convolutions = [
            Conv2D(group, name: "conv1", inputChannels: 1, outputChannels: 16, kernelSize: 3, padding: .same, useBias: false),
            Conv2D(group, name: "conv2", inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: .same, useBias: false),
        ]
        normalizations = [
            BatchNormalization(group, name: "norm1", channels: 16),
            BatchNormalization(group, name: "norm2", channels: 32),
        ]
        hidden = Dense(group, name: "features", inputSize: 7 * 7 * 32, outputSize: Self.featureDimension, activation: .relu)
        dropout = Dropout(rate: 0.2, stream: 0x434C_4450)
        output = Dense(group, name: "logits", inputSize: Self.featureDimension, outputSize: Self.classCount)
    }

    public var groups: [ParameterGroup] { [group] }
    public var scaling: PixelScaling { .unit }

    // MARK: - Forward

    /// Images [N, 1, 28, 28] -> the flattened convolutional maps [N, 1568].
    func convolutionalMaps(_ x: Variable, context: ForwardContext) -> Variable {
        var y = x
        for (convolution, normalization) in zip(convolutions, normalizations) {
            y = averagePool(relu(normalization(convolution(y), context: context)), size: 2)
        }
        return flatten(y)
    }

    /// Images [N, 1, 28, 28] -> features [N, 64]: Dense(64) before its ReLU (inference).
    public func features(_ x: Variable) -> Variable { hidden.preActivation(convolutionalMaps(x, context: .inference)) }

    /// Features [N, 64] -> logits [N, 10] (inference).
    public func logits(features: Variable) -> Variable { output(relu(features)) }

    /// Images [N, 1, 28, 28] -> logits [N, 10]; dropout and batch statistics follow `context`.
    public func logits(_ x: Variable, context: ForwardContext) -> Variable {
        output(dropout(hidden(convolutionalMaps(x, context: context)), context: context))
    }

    // MARK: - Loss and step

    /// The mean cross-entropy of the batch, times `weight` (a share's `meanWeight`).
    public func loss(_ batch: TrainingBatch, context: ForwardContext, weight: Float) -> Variable {
        precondition(batch.labels.count == batch.images.shape[0], "Classifier: \(batch.labels.count) labels for \(batch.images.shape[0]) images")
        return categoricalCrossEntropy(logits: logits(Variable(batch.images), context: context), labels: batch.labels) * weight
    }

    public func trainStep(_ batch: TrainingBatch, context: StepContext) throws -> [String: Float] {
        let share = context.share(of: context.globalBatch)
        let meanLoss = try context.descend(group) { loss(batch, context: context.forward(samples: share.samples), weight: share.meanWeight) }
        return ["loss": meanLoss]
    }

    public func finalPictures(examples: Tensor, random: CounterRandom) -> [Picture] { [] }
    public func evaluationPictures(random: CounterRandom) -> [Picture] { [] }

    /// Predicted classes of images [N, 1, 28, 28] (inference).
    public func predict(_ images: Tensor) -> [Int] {
        let scores = withoutGradient { logits(Variable(images), context: .inference).value }
        return (0..<scores.shape[0]).map { row in (0..<Self.classCount).max { scores[row, $0] < scores[row, $1] }! }
    }
}

extension Classifier: ImageClassifier {
    public var featureDimension: Int { Self.featureDimension }
    public var classCount: Int { Self.classCount }

    public func meanLoss(_ images: Tensor, labels: [Int]) -> Float {
        withoutGradient { loss(TrainingBatch(images: images, labels: labels), context: .inference, weight: 1).value.scalar }
    }

    public func extract(_ images: Tensor) -> (features: Tensor, logits: Tensor) {
        let features = features(Variable(images))
        return (features.value, logits(features: features).value)
    }
}

// MARK: - Export and inference

extension Classifier: PyTorchExportable, InferencePasses {
    public var pytorchLayers: [any PyTorchLayer] {
        zip(convolutions, normalizations).flatMap { [$0 as any PyTorchLayer, $1] } + [hidden as any PyTorchLayer, output]
    }

    /// `features` (Dense(64) before its ReLU) and `logits` of images, batch norm on its running statistics.
    public var inferencePasses: [InferencePass] {
        [InferencePass(name: "features", sampleShape: [1, 28, 28]) { self.features(Variable($0)).value },
         InferencePass(name: "logits", sampleShape: [1, 28, 28]) { self.logits(Variable($0), context: .inference).value }]
    }
}
