import DataIO
import Testing
@testable import Models
@testable import TensorCore

/// Every registered model's export follows the PyTorch layout rules and reads back through the Swift readers; its
/// inference passes run.
@Suite struct ModelExportTests {
    /// gentrain's last name component -> PyTorch's (TensorCore/PyTorchLayouts.swift).
    static let renamed = ["kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias",
                          "moving_mean": "running_mean", "moving_variance": "running_var", "u": "weight_u", "v": "weight_v"]

    static func model(_ name: String) throws -> any TrainableModel {
        let description = try #require(ModelRegistry.named(name))
        return description.make(ModelConfiguration(schema: description.schema, seed: 1))
    }

    @Test(arguments: ModelRegistry.all.map(\.name))
    func exportHasPyTorchNamesAndLayouts(name: String) throws {
        let model = try Self.model(name)
        let exportable = try #require(model as? any ArrayExportable, "\(name) does not declare its exported arrays")
        let arrays = exportable.exportedArrays(step: 3)
        let byName = Dictionary(arrays.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byName.count == arrays.count, "\(name): a name appears twice")
        // The Swift readers read both files back.
        let safetensors = try Safetensors.decode(try Safetensors.encode(arrays, metadata: exportable.exportMetadata), path: name)
        #expect(safetensors.metadata == exportable.exportMetadata)
        #expect(safetensors.arrays == arrays.sorted { $0.name < $1.name })
        #expect(try NumPyArchive.decode(try NumPyArchive.encode(arrays, compressed: true), path: name) == arrays)
        // A model that is not a network names its own arrays (Tests/ModelsTests/GaussianTests checks them).
        guard model is any PyTorchExportable else { return }
        #expect(exportable.exportMetadata == ["format": "pt"])

        // Every parameter and state tensor of every group appears once, under its PyTorch name and layout.
        var floats = 0
        for group in model.groups {
            for (entry, storage) in group.entries.map({ ($0, group.values) }) + group.stateEntries.map({ ($0, group.state) }) {
                var components = entry.name.split(separator: ".").map(String.init)
                var last = try #require(Self.renamed[components.removeLast()], "\(name): \(entry.name) has no PyTorch name")
                // A spectrally normalised kernel (its layer has a state `u`) is torch.nn.utils.spectral_norm's weight_orig.
                let isNormalised = group.stateEntries.contains { $0.name == (components + ["u"]).joined(separator: ".") }
                if last == "weight" && entry.name.hasSuffix(".kernel") && isNormalised { last = "weight_orig" }
                // A gamma without a beta beside it is not a normalisation's scale but self-attention's own parameter `gamma`.
                // (The beside-ness holds among parameters, and among state: a moving average's `ema.` copies.)
                let beta = (components + ["beta"]).joined(separator: ".")
                let hasBeta = group.entries.contains { $0.name == beta } || group.stateEntries.contains { $0.name == beta }
                if entry.name.hasSuffix(".gamma") && !hasBeta { last = "gamma" }
                let exportedName = (model.groups.count > 1 ? [group.name] : []) + components + [last]
                let array = try #require(byName[exportedName.joined(separator: ".")], "\(name): \(entry.name) is not exported")
                let value = Tensor(viewing: storage, offset: entry.offset, shape: entry.shape)
                let expected = entry.shape.count == 2 ? value.permuted([1, 0]) : value  // Linear [out, in]
                #expect(array == NamedArray(name: array.name, tensor: expected), "\(name): \(array.name)")
                floats += entry.count
            }
        }
        #expect(arrays.reduce(0) { $0 + ($1.elements.elementSize == 4 ? $1.elements.count : 0) } == floats)
        // Batch norm's counter, one per running mean, is the only other array.
        let counters = arrays.filter { $0.name.hasSuffix(".num_batches_tracked") }
        #expect(counters.allSatisfy { $0.elements == .int64([3]) && $0.shape == [] })
        #expect(counters.count == arrays.filter { $0.name.hasSuffix(".running_mean") }.count)
        #expect(counters.count + arrays.filter { $0.elements.elementSize == 4 }.count == arrays.count)
    }

    @Test(arguments: ModelRegistry.all.map(\.name))
    func inferencePassesRun(name: String) throws {
        let model = try Self.model(name)
        let passes = try #require(model as? any InferencePasses, "\(name) declares no inference passes").inferencePasses
        #expect(!passes.isEmpty && Set(passes.map(\.name)).count == passes.count)
        for pass in passes {
            let input = Tensor(repeating: 0.5, shape: [1] + pass.sampleShape)
            let output = pass(input)
            #expect(output.shape.first == 1 && output.scalars.allSatisfy(\.isFinite), "\(name) \(pass.name)")
        }
    }
}
