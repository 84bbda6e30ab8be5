// The trainer's checkpoints: restoring (rank 0 reads, everyone receives), choosing which checkpoint to
// resume from, refusing another job's or another run's, and saving (statistics averaged across ranks,
// rank 0 writes, everyone learns whether it is on disk; clean-up removes only this run's older ones).
// And what happens when a rank cannot write a file: a checkpoint if one can be written, then every
// rank stops (exit code 74).

import Communication
import Foundation
import JobFiles
import Models
import TensorCore

/// Sets a model's parameters, state and optimizer state from a checkpoint (a growing model grown to the checkpoint's
/// phase first); a layout that differs from the checkpoint's is refused naming the first tensor that differs.
public func applyCheckpoint(_ checkpoint: Checkpoint, to model: any TrainableModel) throws {
    grow(model, toPhase: { $0.layoutPhase(afterSteps: checkpoint.step) })
    guard checkpoint.groups.count == model.groups.count else {
        throw TrainingError(message: "the checkpoint has \(checkpoint.groups.count) parameter groups, the model \(model.groups.count)")
    }
    for (group, saved) in zip(model.groups, checkpoint.groups) {
        let difference = saved.name != group.name ? nil
            : saved.parameterLayout.flatMap { firstLayoutDifference(saved: $0, model: group.entries, in: group.name, kind: "parameter") }
            ?? saved.stateLayout.flatMap { firstLayoutDifference(saved: $0, model: group.stateEntries, in: group.name, kind: "state tensor") }
            ?? saved.float64Layout.flatMap { firstLayoutDifference(saved: $0, model: group.float64Entries, in: group.name, kind: "Float64 state tensor") }
        if let difference { throw TrainingError(message: difference) }
        guard saved.name == group.name, saved.values.count == group.parameterCount, saved.state.count == group.state.count,
              saved.float64State.count == group.float64State.count else {
            throw TrainingError(message: "checkpoint group \(saved.name) does not match the model's \(group.name)")
        }
        let expected = group.optimizer?.stateCount(parameterCount: group.parameterCount) ?? 0
        guard saved.optimizerState.isEmpty || saved.optimizerState.count == expected else {
            throw TrainingError(message: "checkpoint group \(saved.name): \(saved.optimizerState.count) optimizer values, "
                                + "the job's optimizer keeps \(expected) (was the optimizer changed?)")
        }
        group.setFlatValues(saved.values)
        if !saved.state.isEmpty { saved.state.withUnsafeBufferPointer { group.state.pointer.update(from: $0.baseAddress!, count: $0.count) } }
        group.setFloat64State(saved.float64State)
        group.optimizer?.state = saved.optimizerState
        group.optimizer?.iterations = saved.optimizerIterations
    }
}

/// A checkpoint's job and its model with the checkpoint's state.
public func loadModel(checkpointPath path: String) throws -> (job: Job, model: any TrainableModel, checkpoint: Checkpoint) {
    let checkpoint = try Checkpoint.read(path: path)
    guard let job = try? ModelRegistry.storedJob(checkpoint.job) else {
        throw TrainingError(message: "\(path): its job description cannot be read (written by another gentrain version?)")
    }
    let model = ModelRegistry.makeModel(job)
    try applyCheckpoint(checkpoint, to: model)
    return (job, model, checkpoint)
}

extension Trainer {

    /// Rank 0's state, or the checkpoint's, broadcast to every rank; returns the step to start from.
    func restore(_ resume: ResumeMode) throws -> Int {
        var step = 0
        var failure = ""
        if communicator.rank == 0 {
            do {
                let abandoned = Checkpoint.removeAbandonedPartials(folder: checkpointFolder)
                if !abandoned.isEmpty {
                    log("removed \(abandoned.count) partial checkpoint file(s) of ended processes from \(checkpointFolder): "
                        + abandoned.joined(separator: ", "))
                }
                let checkpoint = try findCheckpoint(resume)
                if let checkpoint { try refuseWeightsOnly(checkpoint, resume: resume) }
                runIdentity = try claimCheckpointFolder(continuing: checkpoint)
                if let checkpoint {
                    try apply(checkpoint)
                    step = checkpoint.step
                }
            } catch {
                failure = "\(error)"
            }
        }
        var header = [Double(step), failure.isEmpty ? 0 : 1]
        try communicator.broadcast(&header, count: 2)
        if header[1] != 0 {
            throw TrainingError(message: communicator.rank == 0 ? failure : "rank 0 could not restore the run")
        }
        if model is any GrowingModel {
            // Rank 0 grew to the checkpoint's phase when it applied it; the others grow now, before receiving its buffers.
            grow(model, toPhase: { $0.layoutPhase(afterSteps: Int(header[0])) })
            try checkLayoutsAgree(step: Int(header[0]))
        }
        for group in model.groups {
            try communicator.broadcast(group.values.pointer, count: group.parameterCount)
            if group.state.count > 0 { try communicator.broadcast(group.state.pointer, count: group.state.count) }
            if !group.float64State.isEmpty {
                var float64State = group.float64State
                try communicator.broadcast(&float64State, count: float64State.count)
                group.setFloat64State(float64State)
            }
            guard let optimizer = group.optimizer else { continue }
            var iterations = [Double(optimizer.iterations), Double(optimizer.state.count)]
            try communicator.broadcast(&iterations, count: 2)
            optimizer.iterations = Int(iterations[0])
            var state = optimizer.state.count == Int(iterations[1]) ? optimizer.state : [Float](repeating: 0, count: Int(iterations[1]))
            try communicator.broadcast(&state, count: state.count)
            optimizer.state = state
        }
        return Int(header[0])
    }

    func findCheckpoint(_ resume: ResumeMode) throws -> Checkpoint? {
        switch resume {
        case .never:
            return nil
        case .file(let path):
            let checkpoint = try Checkpoint.read(path: path)
            try checkJobMatches(checkpoint, path: path)
            return checkpoint
        case .automatic:
            for path in Checkpoint.list(folder: checkpointFolder) {
                do {
                    let checkpoint = try Checkpoint.read(path: path)
                    try checkJobMatches(checkpoint, path: path)
                    return checkpoint
                } catch let error as CheckpointError {
                    log("warning: skipping \(error); trying an older checkpoint")
                }
            }
            return nil
        }
    }

    /// A weights-only copy (`gentrain export --format gtck`) has no optimizer state: resuming from it would restart
    /// every optimizer's moments from zero without a word, so it is refused.
    func refuseWeightsOnly(_ checkpoint: Checkpoint, resume: ResumeMode) throws {
        for (group, saved) in zip(model.groups, checkpoint.groups) {
            guard let optimizer = group.optimizer, saved.optimizerState.isEmpty, saved.optimizerIterations > 0,
                  optimizer.stateCount(parameterCount: saved.values.count) > 0 else { continue }
            let path = if case .file(let file) = resume { file } else { checkpointFolder }
            throw TrainingError(message: "\(path): step \(checkpoint.step) holds the weights only (a copy written by gentrain export), "
                                + "without the optimizer state of group \(group.name); resuming would restart its moments from zero. "
                                + "Resume from a training checkpoint (the run's checkpoints/ folder)")
        }
    }

    func checkJobMatches(_ checkpoint: Checkpoint, path: String) throws {
        guard let saved = try? ModelRegistry.storedJob(checkpoint.job) else {
            // Like a bad checksum: --resume auto skips it for an older checkpoint.
            throw CheckpointError(path: path, problem: "its job description cannot be read")
        }
        let differences = job.differences(from: saved)
        if !differences.isEmpty {
            throw TrainingError(message: "\(path) belongs to a different job (\(differences.joined(separator: "; "))); "
                                + "use another output folder (--set output=...), or move that run's checkpoints away to start afresh here")
        }
    }

    func apply(_ checkpoint: Checkpoint) throws { try applyCheckpoint(checkpoint, to: model) }

    /// The run this start continues (the checkpoint's) or begins (a new identity), after checking that the checkpoint
    /// folder holds no other run's checkpoints: a fresh run beside them would mix with them (`--resume auto` would
    /// later pick whichever has the highest step), so it is refused, naming them. Rank 0.
    func claimCheckpointFolder(continuing checkpoint: Checkpoint?) throws -> RunIdentity {
        let identity = RunIdentity(name: checkpoint?.run ?? Checkpoint.newRunIdentity(), continuesEarlierRun: checkpoint != nil)
        var others: [String] = []
        for path in Checkpoint.list(folder: checkpointFolder) {
            let name = (path as NSString).lastPathComponent
            do {
                let found = try Checkpoint.readIdentity(path: path)
                if !identity.owns(found, job: job) { others.append("\(name) (" + (found.run.map { "run \($0), " } ?? "") + "step \(found.step))") }
            } catch {
                // Unreadable: skipped with a warning when a run continues; a fresh run cannot tell whose it is.
                if checkpoint == nil { others.append("\(name) (unreadable)") }
            }
        }
        guard others.isEmpty else {
            throw TrainingError(message: "\(checkpointFolder) holds \(others.count) checkpoint(s) of another run: "
                                + others.prefix(3).joined(separator: ", ") + (others.count > 3 ? ", ..." : "") + "; "
                                + "gentrain does not mix two runs' checkpoints in one folder: continue that run with --resume auto "
                                + "(and its job), or start this one in another output folder (--set output=...) or after moving them away")
        }
        return identity
    }

    /// Averages the state each rank computes for itself (normalisation statistics) across ranks (replicated state is
    /// the same everywhere already), then rank 0 writes the checkpoint and removes this run's older ones beyond
    /// `checkpoint.keep`; every rank learns whether it is on disk and throws the same way if not.
    func saveCheckpoint(step: Int) throws {
        let scale = 1 / Float(communicator.size)
        for group in model.groups {
            // Synchronised batch statistics are the same on every rank already.
            for entry in group.stateEntries where entry.agreement == .averagedAtCheckpoints && job.batchNorm == "per_rank" {
                let values = group.state.pointer + entry.offset
                try communicator.allReduceSum(values, count: entry.count)
                for index in 0..<entry.count { values[index] *= scale }
            }
        }
        var failure: WriteError?
        if communicator.rank == 0 {
            let groups = model.groups.map { group in
                Checkpoint.Group(name: group.name, values: group.flatValues,
                                 state: Array(UnsafeBufferPointer(start: group.state.pointer, count: group.state.count)),
                                 optimizerState: group.optimizer?.state ?? [], optimizerIterations: group.optimizer?.iterations ?? 0,
                                 parameterLayout: tensorLayouts(group.entries), stateLayout: tensorLayouts(group.stateEntries),
                                 float64State: group.float64State, float64Layout: tensorLayouts(group.float64Entries))
            }
            let checkpoint = Checkpoint(job: job.canonicalJSON, run: runIdentity.name, gentrainVersion: gentrainVersion, step: step,
                                        epoch: step / schedule.stepsPerEpoch, stepInEpoch: step % schedule.stepsPerEpoch,
                                        worldSize: communicator.size, groups: groups)
            let path = checkpointFolder + "/" + Checkpoint.fileName(step: step)
            do throws(CheckpointError) {
                try checkpoint.write(to: path)
                for removed in removeOlderCheckpoints(folder: checkpointFolder, of: runIdentity, job: job, keep: job.checkpointKeep) {
                    log("warning: cannot remove \(removed)")
                }
            } catch {
                failure = WriteError(path: path, problem: error.problem)
            }
        }
        var written: [Double] = [failure == nil ? 1 : 0]
        try watchdog.guarded("broadcast after checkpoint", step: step) { () throws(MPIError) in try communicator.broadcast(&written, count: 1) }
        if written[0] == 0 {
            var reported = failure ?? WriteError(failure: "rank 0 could not write the checkpoint of step \(step)")
            reported.isReportedHere = failure != nil
            reported.outcome = "the earlier checkpoints are kept"
            throw reported
        }
    }

    // MARK: - Files a rank cannot write

    /// Runs a write of `path`; a failure is kept for the next step's summary, which stops every rank after a
    /// checkpoint (exit code 74), instead of ending this rank alone.
    func recordingWriteFailure(_ path: String, _ write: () throws -> Void) {
        do {
            try write()
        } catch {
            pendingWriteFailure = pendingWriteFailure ?? writeError(error, path: path)
        }
    }

    /// The error a rank stops with after a write failed somewhere: its own (printed) or rank 0's (printed there).
    func writeFailure(outcome: String) -> WriteError {
        var failure = pendingWriteFailure ?? WriteError(failure: "another rank could not write a file")
        failure.isReportedHere = pendingWriteFailure != nil
        failure.outcome = outcome
        return failure
    }

    /// Every rank, before the first step: stops together if a rank could not write its start-up files.
    func stopIfStartUpWritesFailed(step: Int) throws {
        var failed: [Double] = [pendingWriteFailure == nil ? 0 : 1]
        try watchdog.guarded("start-up check of written files", step: step) { () throws(MPIError) in
            try communicator.allReduceSum(&failed, count: 1)
        }
        if failed[0] > 0 { throw writeFailure(outcome: "nothing was trained; the checkpoints are as they were") }
    }

    /// Every rank, after the step whose summary reported a write failure: a checkpoint if it can be written, then
    /// the failure (exit code 74).
    func stopAfterWriteFailure(step: Int) throws -> Never {
        do {
            try saveCheckpoint(step: step)
        } catch let checkpointFailure as WriteError {
            throw writeFailure(outcome: "the checkpoint of step \(step) could not be written either (\(checkpointFailure.failure)); "
                               + "the earlier checkpoints are kept")
        }
        throw writeFailure(outcome: "checkpoint at step \(step) written; run again (--resume auto) once the file can be written")
    }
}

/// The run a trainer's checkpoints belong to.
struct RunIdentity {
    /// Stored in each checkpoint's header.
    var name: String
    /// Whether this start continues a checkpoint: then checkpoints without an identity (older gentrain) of the same
    /// job count as this run's history.
    var continuesEarlierRun: Bool

    func owns(_ checkpoint: Checkpoint.Identity, job: Job) -> Bool {
        if let run = checkpoint.run { return run == name }
        guard continuesEarlierRun, let saved = try? ModelRegistry.storedJob(checkpoint.job) else { return false }
        return job.differences(from: saved).isEmpty
    }
}

/// Removes the checkpoints of `run` in `folder` past the `keep` newest, leaving every other run's; returns those
/// it could not remove.
func removeOlderCheckpoints(folder: String, of run: RunIdentity, job: Job, keep: Int) -> [String] {
    let own = Checkpoint.list(folder: folder).filter { path in
        (try? Checkpoint.readIdentity(path: path)).map { run.owns($0, job: job) } ?? false
    }
    return own.dropFirst(keep).filter { unlink($0) != 0 }
}

/// A failed write of `path` as a `WriteError`: Foundation's file errors by their system error text ("No space left
/// on device"), errors that already name their file (a PNG writer's) as they are.
func writeError(_ error: any Error, path: String) -> WriteError {
    if let error = error as? WriteError { return error }
    if let error = error as? CocoaError {
        let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError
        let known: Int32? = switch error.code {
        case .fileWriteOutOfSpace: ENOSPC
        case .fileWriteNoPermission: EACCES
        case .fileWriteVolumeReadOnly: EROFS
        default: nil
        }
        let code = underlying?.domain == NSPOSIXErrorDomain ? underlying.map { Int32($0.code) } : known
        return WriteError(path: path, problem: code.map { String(cString: strerror($0)) } ?? error.localizedDescription)
    }
    let text = "\(error)"
    return text.contains(path) ? WriteError(failure: text) : WriteError(path: path, problem: text)
}
