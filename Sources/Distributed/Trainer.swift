// The data-parallel trainer: every rank holds a replica and its piece of each global batch;
// gradients are summed across ranks (each rank's loss already carries its share n_rank / B), so
// every replica takes the same step. Rank 0 writes checkpoints and reports.

import Communication
import DataIO
import Foundation
import JobFiles
import Models
import TensorCore

/// Where to start a run.
public enum ResumeMode: Equatable, Sendable {
    /// From the newest valid checkpoint of the run folder, if any.
    case automatic
    /// From scratch, ignoring checkpoints.
    case never
    /// From this checkpoint file.
    case file(String)
}

/// A failure that stops the run on every rank with a message (exit code 1).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// How a run ended.
public enum TrainingOutcome: Sendable {
    /// All steps done.
    case finished
    /// Stopped by a signal after writing a checkpoint: run it again to continue (exit code 75).
    case checkpointedForRestart
}

/// Runs one job on this rank.
public final class Trainer {
    /// The job, with the shape of its samples filled in from the data.
    public let job: Job
    let communicator: Communicator
    let watchdog: CollectiveWatchdog
    let reducer: GradientReducer
    let description: ModelDescription
    let model: any TrainableModel
    let dataset: any TrainingData
    /// Global samples a step's losses are shares of (the batch, or the whole data set for a fit by statistics).
    let stepBatch: Int
    let schedule: SampleSchedule
    let totalSteps: Int
    let stopRequest = StopRequest()
    let gentrainVersion: String
    /// The reference set and extractor when the job evaluates during training.
    let evaluationResources: EvaluationResources?
    var checkpointFolder: String { job.output + "/checkpoints" }
    /// Rank 0: the run its checkpoints belong to (`restore` sets it).
    var runIdentity = RunIdentity(name: "", continuesEarlierRun: false)
    /// A file this rank could not write: the next step's summary stops every rank after a checkpoint (exit code 74).
    var pendingWriteFailure: WriteError?
    /// Rank 0: this start's TensorBoard event file.
    var events: TensorBoardLog?
    /// Tests: seconds this rank sleeps in each step's compute (`GENTRAIN_TEST_SLOW_RANK=rank:seconds`), making it the straggler.
    lazy var slowRankDelay: Double? = {
        let parts = (ProcessInfo.processInfo.environment["GENTRAIN_TEST_SLOW_RANK"] ?? "").split(separator: ":")
        guard parts.count == 2, Int(parts[0]) == communicator.rank else { return nil }
        return Double(parts[1])
    }()
    /// A collective that failed inside a forward or backward pass (synchronised batch normalisation's).
    let failedCollective = FailedCollective()

    /// Loads the data and builds the replica (nothing is exchanged yet).
    public init(job: Job, communicator: Communicator, gentrainVersion: String) throws {
        guard let description = ModelRegistry.named(job.modelKind) else { throw TrainingError(message: "no model named \(job.modelKind)") }
        self.description = description
        let dataset = try loadTrainingData(job, samples: description.schema.data.samples)
        self.dataset = dataset
        var job = job
        job.sampleShape = dataset.sampleShape
        job.dataDigest = String(format: "fnv1a-64:%016llx", dataset.contentDigest)
        self.job = job
        self.communicator = communicator
        self.gentrainVersion = gentrainVersion
        watchdog = CollectiveWatchdog(deadline: job.deadlineSeconds, rank: communicator.rank)
        communicator.observer = watchdog
        reducer = GradientReducer(communicator: communicator, bucketMegabytes: job.bucketMegabytes, watchdog: watchdog)
        model = description.make(ModelConfiguration(job: job, schema: description.schema))
        let perStep = description.realImagesPerStep(globalBatch: job.batchSize, datasetCount: dataset.count)
        guard dataset.count >= perStep else {
            throw TrainingError(message: "\(job.dataPath): \(dataset.count) training samples, fewer than the \(perStep) one step needs")
        }
        stepBatch = description.stepBatch(globalBatch: job.batchSize, datasetCount: dataset.count)
        schedule = SampleSchedule(mode: job.sampling == "epoch" ? .epoch : .withReplacement, datasetCount: dataset.count,
                                  perStep: perStep, globalBatch: stepBatch, seed: job.seed)
        totalSteps = job.steps ?? (job.epochs! * schedule.stepsPerEpoch)
        evaluationResources = job.evalEveryEpochs > 0 && !job.evalMetrics.isEmpty
            ? try EvaluationResources(job: job, metrics: job.evalMetrics, reference: job.evalReference, evaluatorPath: job.evaluatorPath) : nil
    }

    /// Trains to the end (or to a stop request); every rank calls it.
    public func run(resume: ResumeMode, stopAtStep: Int? = nil) throws -> TrainingOutcome {
        try handshake()
        var step = try restore(resume)
        let isReporter = communicator.rank == 0
        if step >= totalSteps {
            if isReporter {
                log("\(job.name): the run is already complete: its checkpoint is at step \(step) of \(totalSteps) "
                    + "(raise train.steps or train.epochs to train on)")
            }
            return .finished
        }
        if step > 0 && model.hasConverged {
            if isReporter { log("\(job.name): the run is already complete: it converged at step \(step)") }
            return .finished
        }
        var metrics: JSONLinesWriter?
        if isReporter {
            recordingWriteFailure(job.output + "/job.resolved.json") {
                try FileManager.default.createDirectory(atPath: job.output, withIntermediateDirectories: true)
                try job.canonicalJSON.write(toFile: job.output + "/job.resolved.json", atomically: true, encoding: .utf8)
                metrics = try JSONLinesWriter(path: job.output + "/metrics.jsonl", keepingStepsThrough: step)
            }
            startEvents(resumedStep: step)
            log("\(job.name): \(job.modelKind) on \(dataset.count) samples from \(job.dataPath), \(communicator.size) rank(s), "
                + "global batch \(stepBatch), \(totalSteps) steps (\(schedule.stepsPerEpoch) per epoch, \(job.sampling) sampling"
                + (schedule.droppedPerEpoch > 0 ? ", the last \(schedule.droppedPerEpoch) samples of each epoch's permutation unused" : "") + ")"
                + (step > 0 ? ", resuming at step \(step)" : ""))
            if let note = BLASThreads.nativeKernelChoice { log(note) }
        }
        try stopIfStartUpWritesFailed(step: step)
        stopRequest.install()
        var progress = ProgressReporter(total: totalSteps, unit: "steps", interval: job.logEverySeconds, done: step)
        var permutation: (epoch: Int, order: [Int])?
        var lastCheckpoint = Date()
        var rankTimes = RankTimes(worldSize: communicator.size)
        let random = CounterRandom(seed: job.seed)
        while step < totalSteps {
            try growIfDue(step: step)
            let epoch = step / schedule.stepsPerEpoch
            if schedule.mode == .epoch && permutation?.epoch != epoch { permutation = (epoch, schedule.permutation(epoch: epoch)) }
            let positions = BatchShare(of: schedule.perStep, rank: communicator.rank, worldSize: communicator.size).samples
            let indices = schedule.indices(step: step, positions: positions, permutation: permutation?.order)
            let images = dataset.batch(indices, scaling: model.scaling)
            applyLearningRateSchedule(epoch: epoch)
            let started = Date(), collectivesBefore = watchdog.collectiveSeconds
            if let delay = slowRankDelay { Thread.sleep(forTimeInterval: delay) }  // fault injection for the straggler tests
            let losses = try model.trainStep(TrainingBatch(images: images, labels: dataset.labels(indices)),
                                             context: stepContext(step: step, random: random))
            // A collective inside a pass (synchronised batch statistics) cannot throw through the engine: it is recorded.
            try failedCollective.rethrow()
            let nonFiniteGradient = firstNonFiniteGradient(model.groups)
            let seconds = Date().timeIntervalSince(started), waited = watchdog.collectiveSeconds - collectivesBefore
            step += 1
            // One small collective per step: losses (shares sum to the global mean), stop and checkpoint requests, a file a
            // rank could not write, and each rank's compute and collective seconds in slots of its own.
            let names = losses.keys.sorted()
            let wantsCheckpoint = isReporter && job.checkpointEveryMinutes > 0 && Date().timeIntervalSince(lastCheckpoint) > job.checkpointEveryMinutes * 60
            let stopRequested = stopRequest.isRequested || step == stopAtStep
            var summary = names.map { Double(losses[$0]!) } + [stopRequested ? 1 : 0, wantsCheckpoint ? 1 : 0,
                                                               nonFiniteGradient == nil ? 0 : 1, pendingWriteFailure == nil ? 0 : 1]
            summary += rankTimes.slots(rank: communicator.rank, computeSeconds: seconds - waited, waitSeconds: waited)
            try watchdog.guarded("all-reduce of the step summary", step: step) { () throws(MPIError) in
                try communicator.allReduceSum(&summary, count: summary.count)
            }
            let times = rankTimes.record(summary[(names.count + 4)...])
            let globalLosses = Dictionary(uniqueKeysWithValues: zip(names, summary.prefix(names.count)))
            if globalLosses.values.contains(where: { !$0.isFinite }) {
                throw TrainingError(message: "step \(step): the loss is not finite (\(globalLosses.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", "))); "
                                    + "stopping with the last good checkpoint kept")
            }
            if summary[names.count + 2] > 0 {
                throw TrainingError(message: "step \(step): the summed gradient of \(nonFiniteGradient ?? "a parameter group") is not finite "
                                    + "(NaN or infinity); stopping with the last good checkpoint kept (lower the learning rate?)")
            }
            let writeFailed = summary[names.count + 3] > 0
            let stopNow = summary[names.count] > 0 || writeFailed
            // A model fitted to convergence decides from statistics summed across ranks: every rank stops at the same step.
            let converged = model.hasConverged
            let checkpointNow = stopNow || summary[names.count + 1] > 0 || step == totalSteps || converged
                || (job.checkpointEverySteps > 0 && step % job.checkpointEverySteps == 0)
            if job.replicaCheckEvery > 0 && step % job.replicaCheckEvery == 0 { try checkReplicas(step: step) }
            if isReporter {
                var record = times.merging(["step": step, "epoch": Double(step) / Double(schedule.stepsPerEpoch),
                                            "images_per_second": Double(stepBatch) / (times["step_seconds_slowest"] as! Double)]) { $1 }
                for (name, value) in globalLosses { record[name] = value }
                for (name, value) in learningRates() { record[name] = value }
                self.record(record, in: metrics)
                let detail = "epoch \(epoch + 1) " + names.map { name in
                    let value = globalLosses[name]!
                    return String(format: value == value.rounded() && abs(value) < 1e9 ? "%@ %.0f" : "%@ %.5f", name, value)  // counts as counts
                }.joined(separator: " ")
                recordingWriteFailure("standard error") { try progress.update(step, detail: detail) }
            }
            if writeFailed { try stopAfterWriteFailure(step: step) }
            if checkpointNow {
                try saveCheckpoint(step: step)
                lastCheckpoint = Date()
            }
            if let evaluationResources, !stopNow, evaluationDue(step: step) || converged {
                try evaluate(step: step, resources: evaluationResources, metrics: metrics)
            }
            if stopNow && step < totalSteps {
                try reportRankTimes(rankTimes, step: step, metrics: metrics)
                if isReporter { log("stop requested: checkpoint at step \(step) written; run again to continue (exit 75)") }
                return .checkpointedForRestart
            }
            if converged {
                if isReporter { log("\(job.name): converged at step \(step) of at most \(totalSteps)") }
                break
            }
        }
        try reportRankTimes(rankTimes, step: step, metrics: metrics)
        if let finishing = model as? any FinalPass {
            let positions = BatchShare(of: schedule.perStep, rank: communicator.rank, worldSize: communicator.size).samples
            let indices = schedule.indices(step: step - 1, positions: positions, permutation: permutation?.order)
            try finishing.finalPass(TrainingBatch(images: dataset.batch(indices, scaling: model.scaling), labels: dataset.labels(indices)),
                                    context: stepContext(step: step, random: random))
        }
        if isReporter {
            let random = CounterRandom(seed: job.seed)
            let examples = dataset.batch(0..<min(10, dataset.count), scaling: model.scaling)
            var pictures = try model.finalPictures(examples: examples, random: random)
            if let heldOut = model as? any HeldOutPictures {
                do {
                    pictures += heldOut.heldOutPictures(try heldOutExamples(count: 10))
                } catch {
                    log("no pictures of held-out images: \(error)")
                }
            }
            let report = try model.finalReport(random: random)
            for line in report.lines { log(line) }
            if !report.record.isEmpty {
                self.record(report.record.merging(["event": "final", "step": step]) { $1 }, in: metrics)
            }
            recordingWriteFailure(job.output) { try writePictures(pictures, suffix: "", section: "final", step: step) }
            recordingWriteFailure(job.output + "/curves.png") { try writeCurves(runFolder: job.output, sharedPanels: model.curvePanels) }
        }
        if pendingWriteFailure != nil { throw writeFailure(outcome: "the checkpoint of the last step is written") }
        return .finished
    }

    /// The first `count` images of the job's test split (its class filter applied), in the model's pixel scaling.
    func heldOutExamples(count: Int) throws -> Tensor {
        let test = try ImageDataset.load(folder: job.dataPath, split: .test)
        try test.requireImageSize(rows: 28, columns: 28)
        let kept = job.classes.map { test.filtered(classes: Set($0)) } ?? test
        return kept.batch(0..<min(count, kept.count), scaling: model.scaling)
    }

    /// The collectives and randomness of step `step` (0 for the first).
    func stepContext(step: Int, random: CounterRandom) -> StepContext {
        var forward = ForwardContext(training: true, random: random, step: UInt64(step))
        if job.batchNorm == "synchronized" && communicator.size > 1 {
            forward.batchStatistics = ReplicaSum { [communicator, watchdog, failedCollective] values in
                do {
                    try watchdog.guarded("all-reduce of batch statistics", step: step + 1) { () throws(MPIError) in
                        try communicator.allReduceSum(values.baseAddress!, count: values.count)
                    }
                } catch {
                    failedCollective.record(error)
                }
            }
        }
        var context = StepContext(forward: forward, globalBatch: stepBatch, rank: communicator.rank, worldSize: communicator.size,
                                  reduceGradients: { [reducer] group in try reducer.reduce(group, step: step) },
                                  reduceSum: { [reducer] values in try reducer.sum(&values, step: step) })
        context.microBatches = job.accumulate
        return context
    }

    /// Sets each optimizer's learning rate for `epoch` from its job schedule.
    func applyLearningRateSchedule(epoch: Int) {
        for group in model.groups {
            if let optimizer = group.optimizer, let spec = job.optimizers[group.name], !spec.schedule.isEmpty {
                optimizer.learningRate = Float(spec.learningRate(epoch: epoch))
            }
        }
    }

    // MARK: - Collectives

    /// Every rank compares what must agree before the first step; on a difference all stop with the same message.
    func handshake() throws {
        let layout = layoutDescription(model.groups)
        let jobDigest = fnv1a(job.canonicalJSON)
        let fields: [(String, UInt64)] = [
            ("gentrain version", fnv1a(gentrainVersion)), ("world size", UInt64(communicator.size)),
            ("job description", jobDigest), ("parameter layout", fnv1a(layout)),
            ("dataset size", UInt64(dataset.count)), ("dataset content", dataset.contentDigest),
        ]
        let all = try watchdog.guarded("start-up handshake", step: 0) { () throws(MPIError) in
            try communicator.allGather(fields.map(\.1))
        }
        var differences: [String] = []
        for rank in 1..<communicator.size {
            for (index, field) in fields.enumerated() where all[rank * fields.count + index] != all[index] {
                differences.append("rank \(rank) differs from rank 0 in its \(field.0)")
            }
        }
        if !differences.isEmpty {
            throw TrainingError(message: "start-up check failed: " + differences.joined(separator: "; ")
                                + " (every rank must run the same gentrain, job and data)")
        }
    }

    /// Compares checksums of the parameters and the replicated state across ranks; names the first tensor that differs.
    func checkReplicas(step: Int) throws {
        var entries: [(ParameterGroup, ParameterEntry)] = [], digests: [UInt64] = []
        for group in model.groups {
            for entry in group.entries {
                entries.append((group, entry))
                digests.append(fnv1a(UnsafeRawBufferPointer(start: group.values.pointer + entry.offset, count: entry.count * 4)))
            }
            for entry in group.stateEntries where entry.agreement == .replicated {
                entries.append((group, entry))
                digests.append(fnv1a(UnsafeRawBufferPointer(start: group.state.pointer + entry.offset, count: entry.count * 4)))
            }
            for entry in group.float64Entries {
                entries.append((group, entry))
                digests.append(group.float64State.withUnsafeBytes { fnv1a(UnsafeRawBufferPointer(rebasing: $0[(entry.offset * 8)..<((entry.offset + entry.count) * 8)])) })
            }
        }
        let all = try watchdog.guarded("replica check", step: step) { () throws(MPIError) in try communicator.allGather(digests) }
        for rank in 1..<communicator.size {
            for (index, (group, entry)) in entries.enumerated() where all[rank * entries.count + index] != all[index] {
                throw TrainingError(message: "replica check at step \(step): rank \(rank)'s \(group.name).\(entry.name) differs from rank 0's")
            }
        }
    }

    // MARK: - Pictures

    /// Writes each picture as `<output>/<name><suffix>.png`: its images three times their size, under its title
    /// (followed by `titleSuffix`), each under its caption; and into the event file as the image `<section>/<name>` at `step`.
    func writePictures(_ pictures: [Picture], suffix: String, titleSuffix: String = "", section: String, step: Int) throws {
        for picture in pictures {
            let shape = picture.images.shape
            let bytes = picture.images.scalars.map(model.scaling.byte)
            let image = captionedGrid(bytes, imageHeight: shape[2], imageWidth: shape[3], columns: picture.columns, scale: 3,
                                          title: picture.title + titleSuffix, captions: picture.captions,
                                          columnCaptions: picture.columnCaptions, rowCaptions: picture.rowCaptions)
            let png = try image.writePNG(to: job.output + "/" + picture.name + suffix + ".png")
            try events?.writeImage(image, png: png, tag: section + "/" + picture.name, step: step)
        }
    }

    func log(_ message: String) {
        recordingWriteFailure("standard error") { try writeStandardError(message + "\n") }
    }
}

/// SIGTERM or SIGUSR1 asks for a checkpoint and a clean stop.
final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var sources: [DispatchSourceSignal] = []

    var isRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }

    func install() {
        // A process started from a thread that blocks signals (a Dispatch worker, say) inherits that mask.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        sigaddset(&unblocked, SIGTERM)
        sigaddset(&unblocked, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
        for signalNumber in [SIGTERM, SIGUSR1] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.requested = true
                self.lock.unlock()
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// FNV-1a of a string's UTF-8 bytes.
func fnv1a(_ text: String) -> UInt64 { Array(text.utf8).withUnsafeBytes { fnv1a($0) } }

/// FNV-1a of raw bytes.
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return hash
}
