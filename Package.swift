// swift-tools-version: 6.0
import PackageDescription

/// The commit `gentrain --version` names: `GENTRAIN_COMMIT` from the build's environment (letters, digits, `.`, `-`
/// and `+` only), empty when not given.
let buildCommit = String((Context.environment["GENTRAIN_COMMIT"] ?? "").filter { $0.isLetter || $0.isNumber || "-.+".contains($0) })

/// gentrain: data-parallel training of generative image models over MPI.
///
/// Module map (one concern per module):
/// - `CMPI`, `CBLAS`, `CZlib`, `CCairo`: system-library shims over Open MPI, OpenBLAS (+LAPACK), zlib and Cairo.
/// - `COneDNN`: convolution kernels over oneDNN (`libdnnl-dev`) for row-major or channel-blocked buffers, primitives cached per shape.
/// - `CConvolution`: direct convolution kernels for one channel on a side, compiled per vector width (AVX-512, AVX2).
/// - `CBuildInfo`: the git commit the build was given (`GENTRAIN_COMMIT`, set by `scripts/install.sh`), for `--version`.
/// - `CPlatform`: OpenMP's thread team for gentrain's parallel loops, the CPU's vector extensions, OpenBLAS's kernels.
/// - `TensorCore`: tensors, kernels, reverse-mode autodiff, layers, losses, optimizers.
/// - `DataIO`: IDX datasets, PNG pictures (curves and image grids drawn by Cairo), safetensors / npy / npz array files.
/// - `Communication`: the typed MPI communicator (collectives, non-blocking all-reduce).
/// - `Evaluation`: FID, KID and IS (Float64, sharded across ranks), feature files, the feature extractor.
/// - `DistributedTraining` (at `Sources/Distributed`): the data-parallel trainer, checkpoints, watchdog.
/// - `Models`: the course's models, one file each, on the model contract (`ModelContract.swift`), listed in `ModelRegistry.swift`
///   (initial values from array files through `DataIO`).
/// - `LaunchPlanning`: `gentrain run`'s mpirun command and batch scripts, as pure functions.
/// - `gentrain` (at `Sources/Launcher`): the command-line tool.
let package = Package(
    name: "gentrain",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gentrain", targets: ["gentrain"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCairo", path: "Sources/CCairo", pkgConfig: "cairo",
                       providers: [.apt(["libcairo2-dev"])]),
        .target(name: "COneDNN", path: "Sources/COneDNN",
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "CPlatform", path: "Sources/CPlatform",
                linkerSettings: [.linkedLibrary("gomp"), .linkedLibrary("dl")]),
        .target(name: "CBuildInfo", path: "Sources/CBuildInfo", cSettings: [.define("GENTRAIN_COMMIT", to: "\"\(buildCommit)\"")]),
        .target(name: "CConvolution", path: "Sources/CConvolution", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "COneDNN", "CPlatform", "CConvolution"]),
        .target(name: "DataIO", dependencies: ["CZlib", "CCairo", "TensorCore"]),
        .target(name: "Communication", dependencies: ["CMPI"]),
        .target(name: "Evaluation", dependencies: ["CBLAS", "Communication", "TensorCore", "DataIO"]),
        .target(name: "DistributedTraining",
                dependencies: ["CMPI", "CZlib", "Communication", "Evaluation", "TensorCore", "DataIO", "Models", "JobFiles"],
                path: "Sources/Distributed"),
        .target(name: "Models", dependencies: ["TensorCore", "JobFiles", "DataIO"]),
        .target(name: "JobFiles", dependencies: ["Yams"]),
        .target(name: "LaunchPlanning", dependencies: ["JobFiles"]),
        .executableTarget(
            name: "gentrain",
            dependencies: [
                "TensorCore", "DataIO", "Models", "Communication", "Evaluation", "DistributedTraining", "JobFiles", "LaunchPlanning",
                "CBuildInfo", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Launcher"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "CPlatform"], exclude: ["Fixtures"]),
        .testTarget(name: "DataIOTests", dependencies: ["DataIO", "TensorCore", "CZlib"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TensorCore", "JobFiles", "DataIO"], exclude: ["Fixtures"]),
        .testTarget(name: "LauncherTests", dependencies: ["gentrain", "DistributedTraining", "Evaluation", "Models", "JobFiles", "DataIO"]),
        .testTarget(name: "JobFilesTests", dependencies: ["JobFiles", "Models"]),
        .testTarget(name: "LaunchPlanningTests", dependencies: ["LaunchPlanning", "JobFiles", "Models"], exclude: ["Golden"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Communication", "TensorCore", "DataIO"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
