import Foundation
import Testing
import JobFiles
import Models
@testable import LaunchPlanning

/// A job from YAML text written to a temporary file.
func job(_ extra: String = "", distributed: String = "{ranks: 2, threads_per_rank: 1}") throws -> (path: String, job: Job) {
    let path = NSTemporaryDirectory() + "gentrain-launch-\(UUID().uuidString).yaml"
    let text = """
    name: plan-test
    model: {kind: autoencoder}
    train: {steps: 10}
    distributed: \(distributed)
    output: /runs/plan-test
    \(extra)
    """
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return (path, try ModelRegistry.loadJob(path: path))
}

func context(environment: [String: String] = [:], root: Bool = false, cores: Int = 2, files: [String: String] = [:]) -> LaunchContext {
    LaunchContext(environment: environment, isRoot: root, mpirun: "/usr/bin/mpirun", gentrain: "/opt/gentrain/bin/gentrain", localCores: cores, files: files)
}

@Suite struct LaunchPlanTests {
    @Test func localRunFromTheJobFile() throws {
        let (path, job) = try job()
        let plan = try planLaunch(LaunchRequest(jobPath: path, job: job), context: context(environment: ["PATH": "/usr/bin"]))
        #expect(plan.executable == "/usr/bin/mpirun" && plan.ranks == 2 && plan.threadsPerRank == 1)
        #expect(plan.arguments == ["-n", "2", "-x", "OPENBLAS_NUM_THREADS=1", "-x", "GENTRAIN_EXPECTED_WORLD_SIZE=2",
                                   "-x", "SWIFT_BACKTRACE=enable=no", "-x", "PATH",
                                   "--output-filename", "/runs/plan-test/logs/attempt-0",
                                   "/opt/gentrain/bin/gentrain", "train", path,
                                   "--set", "distributed.ranks=2", "--set", "distributed.threads_per_rank=1", "--resume", "auto"])
        #expect(plan.environment.isEmpty, "the run-as-root variables only for root")
        #expect(plan.placement == "this machine (2 cores)")
    }

    /// A crash ends in under a second instead of ~32 s of symbolication (issue 19, case 10): the ranks run without
    /// Swift's backtracer unless the user set SWIFT_BACKTRACE, which is then passed on as it is.
    @Test func ranksRunWithoutTheBacktracerUnlessTheUserChoseOne() throws {
        let (path, job) = try job()
        let plan = try planLaunch(LaunchRequest(jobPath: path, job: job), context: context())
        #expect(plan.arguments.contains("SWIFT_BACKTRACE=enable=no"))
        #expect(plan.commandLine.contains("-x SWIFT_BACKTRACE=enable=no"))
        let chosen = try planLaunch(LaunchRequest(jobPath: path, job: job), context: context(environment: ["SWIFT_BACKTRACE": "enable=yes,symbolicate=fast"]))
        #expect(!chosen.arguments.contains { $0.hasPrefix("SWIFT_BACKTRACE=") })
        #expect(chosen.arguments.contains("SWIFT_BACKTRACE"))
    }

    @Test func rootGetsOpenMPIsPermissionAndMoreRanksThanCoresOversubscribe() throws {
        let (path, job) = try job()
        var request = LaunchRequest(jobPath: path, job: job)
        request.ranks = 3
        request.threadsPerRank = 2
        request.overrides = ["train.steps=5"]
        request.resume = "never"
        let plan = try planLaunch(request, context: context(root: true, cores: 2), attempt: 0)
        #expect(plan.environment == ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
        #expect(plan.arguments.starts(with: ["-n", "3", "--oversubscribe", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=2"]))
        #expect(plan.arguments.suffix(8) == ["--set", "train.steps=5", "--set", "distributed.ranks=3", "--set", "distributed.threads_per_rank=2",
                                             "--resume", "never"])
        // Restarts always resume from the newest valid checkpoint, with their own log folder.
        let restart = try planLaunch(request, context: context(root: true, cores: 2), attempt: 1)
        #expect(restart.arguments.last == "auto" && restart.arguments.contains("/runs/plan-test/logs/attempt-1"))
        #expect(plan.commandLine.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 /usr/bin/mpirun -n 3 --oversubscribe"))
    }

    @Test func hostfileSlotsAreCheckedAndFlagsWin() throws {
        let (path, job) = try job(distributed: "{ranks: 4, hostfile: /etc/job-hosts}")
        let files = ["/etc/job-hosts": "# two nodes\nnode01 slots=2\nnode02 slots=2 max_slots=4\n", "/tmp/small": "node01 slots=1\n"]
        let plan = try planLaunch(LaunchRequest(jobPath: path, job: job), context: context(files: files))
        #expect(plan.arguments.starts(with: ["-n", "4", "--hostfile", "/etc/job-hosts", "--mca", "plm_rsh_args", "-o ConnectTimeout=10 -o BatchMode=yes"]))
        #expect(!plan.arguments.contains("--oversubscribe"))
        #expect(plan.placement == "2 host(s) from /etc/job-hosts (4 slots)")
        var request = LaunchRequest(jobPath: path, job: job)
        request.hostfile = "/tmp/small"
        #expect { try planLaunch(request, context: context(files: files)) } throws: {
            "\($0)".contains("too few slots: /tmp/small has 1 for 4 ranks")
        }
        request.extraMPIArguments = ["--oversubscribe"]
        #expect(try planLaunch(request, context: context(files: files)).arguments.contains("/tmp/small"))
        request.hostfile = "/nonexistent/hosts"
        #expect { try planLaunch(request, context: context(files: files)) } throws: { "\($0)" == "hostfile /nonexistent/hosts: no such file" }
    }

    @Test func slurmAllocationGivesTheRanksAndFlagsCannotExceedIt() throws {
        let (path, job) = try job()
        let slurm = ["SLURM_JOB_ID": "42", "SLURM_NTASKS": "6", "SLURM_JOB_NODELIST": "node[01-03]"]
        let plan = try planLaunch(LaunchRequest(jobPath: path, job: job), context: context(environment: slurm))
        #expect(plan.ranks == 6 && plan.arguments.starts(with: ["-n", "6", "-x"]) && !plan.arguments.contains("--hostfile"))
        #expect(plan.placement == "Slurm job 42 (6 tasks on node[01-03])" && !plan.arguments.contains("--oversubscribe"))
        var request = LaunchRequest(jobPath: path, job: job)
        request.ranks = 4
        #expect(try planLaunch(request, context: context(environment: slurm)).ranks == 4)
        request.ranks = 8
        #expect { try planLaunch(request, context: context(environment: slurm)) } throws: { "\($0)".contains("grants 6") }
        #expect { try planLaunch(LaunchRequest(jobPath: path, job: job), context: context(environment: ["SLURM_JOB_ID": "7"])) } throws: {
            "\($0)".contains("SLURM_NTASKS is not set")
        }
    }

    @Test func pbsNodeFileGivesHostsAndRanks() throws {
        let (path, job) = try job()
        let pbs = ["PBS_JOBID": "17.server", "PBS_NODEFILE": "/var/spool/pbs/aux/17.server"]
        let files = ["/var/spool/pbs/aux/17.server": "n1\nn1\nn2\nn2\nn2\n"]
        let plan = try planLaunch(LaunchRequest(jobPath: path, job: job), context: context(environment: pbs, files: files))
        #expect(plan.ranks == 5 && plan.arguments.starts(with: ["-n", "5", "--hostfile", "/var/spool/pbs/aux/17.server"]))
        #expect(plan.allocation == .pbs(jobID: "17.server", nodefile: "/var/spool/pbs/aux/17.server",
                                        hosts: [HostEntry(name: "n1", slots: 2), HostEntry(name: "n2", slots: 3)]))
    }

    @Test func extraArgumentsPassThroughAndReplaceDefaults() throws {
        let (path, job) = try job(distributed: "{ranks: 2, threads_per_rank: 2}")
        var request = LaunchRequest(jobPath: path, job: job)
        request.extraMPIArguments = ["--bind-to", "core", "--mca", "btl", "tcp,self"]
        let plan = try planLaunch(request, context: context())
        #expect(!plan.arguments.contains("none"))
        #expect(plan.arguments.contains(["--bind-to", "core", "--mca", "btl", "tcp,self"]))
    }

    @Test func hostfilesAreParsedWithLineNumbers() throws {
        #expect(try parseHostfile("a slots=2\n\n  # note\nb\n", path: "h") == [HostEntry(name: "a", slots: 2), HostEntry(name: "b", slots: nil)])
        #expect(totalSlots([HostEntry(name: "a", slots: 2), HostEntry(name: "b", slots: nil)]) == nil)
        #expect { try parseHostfile("a slots=two\n", path: "h") } throws: { "\($0)" == "h:1: slots must be a positive number, found 'two'" }
        #expect { try parseHostfile("a\na\n", path: "h") } throws: { "\($0)" == "h:2: host a is listed twice" }
        #expect { try parseHostfile("# nothing\n", path: "h") } throws: { "\($0)" == "h: no hosts in the hostfile" }
    }

    @Test func executablesAreFoundOnThePath() {
        let present: Set = ["/opt/mpi/bin/mpirun", "/usr/bin/mpirun"]
        #expect(findExecutable("mpirun", path: "/nowhere:/opt/mpi/bin:/usr/bin") { present.contains($0) } == "/opt/mpi/bin/mpirun")
        #expect(findExecutable("mpirun", path: "/nowhere") { present.contains($0) } == nil)
        #expect(shellQuoted("-o ConnectTimeout=10") == "'-o ConnectTimeout=10'" && shellQuoted("it's") == "'it'\\''s'")
    }
}

@Suite struct LaunchFailureTests {
    @Test func mpirunsErrorsBecomeOneLine() {
        #expect(diagnoseLaunchFailure("ssh: Could not resolve hostname node07: Name or service not known\nORTE was unable to reliably start")
                == "host node07 cannot be resolved (check the hostfile's names)")
        #expect(diagnoseLaunchFailure("ssh: connect to host 10.0.0.9 port 22: Connection timed out\n")?.contains("unreachable by ssh") == true)
        #expect(diagnoseLaunchFailure("root@n1: Permission denied (publickey,password).")?.contains("passwordless ssh") == true)
        #expect(diagnoseLaunchFailure("There are not enough slots available in the system to satisfy the 4")?.contains("not enough slots") == true)
        #expect(diagnoseLaunchFailure("ORTE was unable to reliably start one or more daemons.")?.contains("daemons") == true)
        #expect(diagnoseLaunchFailure("step 12: the loss is not finite") == nil)
    }
}
