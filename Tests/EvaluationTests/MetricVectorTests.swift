import Foundation
import Testing
import TensorCore
@testable import Evaluation

/// The fixture folder beside this file.
func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// The known answers of `Fixtures/expected.json`.
func expected() throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture("expected.json")))
    return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

func value(_ key: String, in answers: [String: Any]) throws -> Double { try #require(answers[key] as? Double) }

/// |a - b| within 1e-9 relative (1e-12 absolute near zero), the vectors' stated tolerance.
func agrees(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= max(1e-9 * abs(b), 1e-12) }

struct VectorSets {
    let a: [Double], b: [Double], logits: [Double]
    init() throws {
        a = try FeatureFile(path: fixture("feat_a_2000x64_f64le.bin"), dimension: 64, rawType: .float64).readRows(0..<2000)
        b = try FeatureFile(path: fixture("feat_b_1500x64_f64le.bin"), dimension: 64, rawType: .float64).readRows(0..<1500)
        logits = try FeatureFile(path: fixture("logits_1000x10_f64le.bin"), dimension: 10, rawType: .float64).readRows(0..<1000)
    }

    func statistics(_ values: [Double]) -> GaussianStatistics { values.withUnsafeBufferPointer { GaussianStatistics(rows: $0, dimension: 64) } }
}

@Suite struct MetricVectorTests {
    @Test func frechetDistanceAndItsTerms() throws {
        let sets = try VectorSets(), answers = try expected()
        let distance = try frechetDistance(sets.statistics(sets.a), sets.statistics(sets.b))
        let terms = try #require(answers["fid_components"] as? [String: Double])
        #expect(agrees(distance.value, try value("fid", in: answers)), "FID \(distance.value)")
        #expect(agrees(distance.meanTerm, terms["mean_term_|mu_a-mu_b|^2"]!))
        #expect(agrees(distance.traceA, terms["tr_sigma_a"]!))
        #expect(agrees(distance.traceB, terms["tr_sigma_b"]!))
        #expect(agrees(distance.traceSquareRootProduct, terms["tr_sqrt_sigma_a_sigma_b"]!))
        // Dividing the covariance by N instead of N - 1 is the common mistake the vectors guard against.
        #expect(!agrees(distance.value, try value("fid_biased_covariance_divide_by_n", in: answers)))
    }

    @Test func frechetDistanceOfASetWithItselfAndOfItsHalves() throws {
        let sets = try VectorSets(), answers = try expected()
        let same = try frechetDistance(sets.statistics(sets.a), sets.statistics(sets.a))
        #expect(abs(same.value) < 1e-9, "FID(A, A) = \(same.value)")
        let halves = try frechetDistance(sets.statistics(Array(sets.a[0..<64_000])), sets.statistics(Array(sets.a[64_000...])))
        #expect(agrees(halves.value, try value("fid_a_first1000_vs_a_last1000", in: answers)))
    }

    @Test func kernelInceptionDistanceOnTorchFidelitySubsets() throws {
        let sets = try VectorSets(), answers = try expected()
        let subsets = try KernelSubsets(
            real: FeatureFile(path: fixture("kid_idx_torchfidelity_x_100x1000_i64le.bin"), dimension: 1000, rawType: .int64).readIntegers(),
            fake: FeatureFile(path: fixture("kid_idx_torchfidelity_y_100x1000_i64le.bin"), dimension: 1000, rawType: .int64).readIntegers())
        try subsets.validate(realCount: 2000, fakeCount: 1500)
        let values = kernelSubsetValues(real: sets.a, fake: sets.b, dimension: 64, subsets: subsets, range: 0..<100)
        let kernel = kernelInceptionDistance(subsetValues: values)
        #expect(agrees(kernel.mean, try value("kid_mean", in: answers)), "KID \(kernel.mean)")
        #expect(agrees(kernel.standardDeviation, try value("kid_std", in: answers)))
        #expect(agrees(values[0], try value("kid_subset0", in: answers)))
        let first = polynomialMMD(Array(sets.a[0..<64_000]), rows: 1000, Array(sets.b[0..<64_000]), rows: 1000, dimension: 64)
        #expect(agrees(first, try value("kid_single_subset_first1000_each", in: answers)))
    }

    @Test func inceptionScoreOverSplits() throws {
        let sets = try VectorSets(), answers = try expected()
        let score = try sets.logits.withUnsafeBufferPointer {
            try InceptionScoreSums(logits: $0, classes: 10, firstRow: 0, totalRows: 1000, splits: 10).score()
        }
        #expect(agrees(score.mean, try value("is_mean", in: answers)))
        #expect(agrees(score.standardDeviation, try value("is_std", in: answers)))
        let splits = try #require(answers["is_split_scores"] as? [Double])
        #expect(zip(score.splitScores, splits).allSatisfy { agrees($0, $1) })
        let single = try sets.logits.withUnsafeBufferPointer {
            try InceptionScoreSums(logits: $0, classes: 10, firstRow: 0, totalRows: 1000, splits: 1).score()
        }
        #expect(agrees(single.mean, try value("is_1split", in: answers)))
    }

    @Test func inceptionScoreSumsOfPiecesEqualTheWhole() throws {
        let sets = try VectorSets()
        let whole = sets.logits.withUnsafeBufferPointer { InceptionScoreSums(logits: $0, classes: 10, firstRow: 0, totalRows: 1000, splits: 7) }
        var pieces = InceptionScoreSums(logits: UnsafeBufferPointer(start: nil, count: 0), classes: 10, firstRow: 0, totalRows: 1000, splits: 7)
        for (start, end) in [(0, 333), (333, 334), (334, 1000)] {
            let part = Array(sets.logits[(start * 10)..<(end * 10)]).withUnsafeBufferPointer {
                InceptionScoreSums(logits: $0, classes: 10, firstRow: start, totalRows: 1000, splits: 7)
            }
            for index in pieces.values.indices { pieces.values[index] += part.values[index] }
        }
        #expect(zip(try pieces.score().splitScores, try whole.score().splitScores).allSatisfy { agrees($0, $1) })
    }

    @Test func splitsAreConsecutiveFloorBoundaries() {
        for total in [1, 7, 10, 99, 1000, 1001] {
            for splits in [1, 3, 10] where splits <= total {
                for row in 0..<total {
                    let naive = (0..<splits).last { $0 * total / splits <= row }!
                    #expect(InceptionScoreSums.split(ofRow: row, totalRows: total, splits: splits) == naive)
                }
            }
        }
    }
}
