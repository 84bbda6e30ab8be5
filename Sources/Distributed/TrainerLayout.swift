// Parameter layouts that change during training: a `GrowingModel` is brought to the phase of each step
// before the step, and to the phase of a checkpoint before the checkpoint is applied; every rank grows at
// the same step (the phase is a function of the step), and the ranks then compare their layouts as at
// start-up. A checkpoint records each group's layout, so a mismatch names the first tensor that differs.

import Communication
import Models
import TensorCore

/// The layout every rank must share, as the start-up handshake and the growth check compare it.
func layoutDescription(_ groups: [ParameterGroup]) -> String {
    groups.flatMap { group in
        group.entries.map { "\(group.name).\($0.name)\($0.shape)" } + group.stateEntries.map { "\(group.name).\($0.name)\($0.shape) \($0.agreement)" }
            + group.float64Entries.map { "\(group.name).\($0.name)\($0.shape) float64" }
    }.joined(separator: ";")
}

/// The names and shapes a checkpoint records for `entries`.
func tensorLayouts(_ entries: [ParameterEntry]) -> [SavedTensorShape] { entries.map { SavedTensorShape(name: $0.name, shape: $0.shape) } }

/// Where a saved layout and the model's entries first differ, in words (nil when they agree).
func firstLayoutDifference(saved: [SavedTensorShape], model entries: [ParameterEntry], in group: String, kind: String) -> String? {
    let model = tensorLayouts(entries)
    for index in 0..<max(saved.count, model.count) {
        let savedTensor = index < saved.count ? saved[index] : nil, modelTensor = index < model.count ? model[index] : nil
        if savedTensor == modelTensor { continue }
        return "the checkpoint's layout differs from the model's at \(kind) \(index + 1) of group \(group): "
            + (savedTensor.map { "\(group).\($0)" } ?? "nothing") + " in the checkpoint, "
            + (modelTensor.map { "\(group).\($0)" } ?? "nothing") + " in the model"
    }
    return nil
}

/// Grows `model` (when it is a `GrowingModel`) to `phase`; returns whether it grew.
@discardableResult
func grow(_ model: any TrainableModel, toPhase phase: (any GrowingModel) -> Int) -> Bool {
    guard let growing = model as? any GrowingModel else { return false }
    let target = phase(growing)
    if target == growing.layoutPhase { return false }
    guard target > growing.layoutPhase else {
        fatalError("\(type(of: growing)): layout phase \(target) after phase \(growing.layoutPhase) (phases never decrease)")
    }
    growing.grow(toPhase: target)
    return true
}

extension Trainer {
    /// Before step `step` (0 for the first): grows the model to the step's phase, then checks that every rank has the
    /// same layout (every rank grows here, so every rank takes part).
    func growIfDue(step: Int) throws {
        guard grow(model, toPhase: { $0.layoutPhase(atStep: step) }) else { return }
        try checkLayoutsAgree(step: step)
        if communicator.rank == 0 {
            let counts = model.groups.map { "\($0.name) \($0.parameterCount)" }.joined(separator: ", ")
            log("step \(step + 1): layout phase \((model as? any GrowingModel)?.layoutPhase ?? 0), parameters \(counts)")
        }
    }

    /// Every rank compares its parameter layout with rank 0's; on a difference all stop with the same message.
    func checkLayoutsAgree(step: Int) throws {
        let digest = fnv1a(layoutDescription(model.groups))
        let all = try watchdog.guarded("layout check", step: step) { () throws(MPIError) in try communicator.allGather([digest]) }
        if let rank = all.firstIndex(where: { $0 != all[0] }) {
            throw TrainingError(message: "layout check before step \(step + 1): rank \(rank)'s parameter layout differs from rank 0's")
        }
    }
}
