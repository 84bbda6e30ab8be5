import Foundation
import Testing
@testable import Models
@testable import TensorCore

/// An RBM of `visible` x `hidden` units with the given parameters (flat: W [H, V], b_h, b_v) and `chains` chains.
func smallRBM(visible: Int, hidden: Int, chains: Int, parameters: [Float], gibbsSteps: Int = 1, learningRate: Float = 0.1) -> RestrictedBoltzmannMachine {
    let model = RestrictedBoltzmannMachine(seed: 1, sampleShape: [visible], hiddenCount: hidden, chainCount: chains, gibbsSteps: gibbsSteps,
                                           optimizer: SGD(learningRate: learningRate))
    model.group.setFlatValues(parameters)
    return model
}

/// `count` seeded uniform values in [low, high).
func seededUniforms(_ count: Int, seed: UInt64, low: Float, high: Float) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return generator.uniformTensor([count], low: low, high: high).scalars
}

/// Every binary vector of `length` units, row by row (unit 0 the lowest bit).
func allBinaryRows(_ length: Int) -> [[Double]] {
    (0..<(1 << length)).map { code in (0..<length).map { Double((code >> $0) & 1) } }
}

/// The RBM's numbers by enumeration, in Float64: free energy from its definition, and dF/dtheta.
struct EnumeratedRBM {
    let visible: Int, hidden: Int
    let weights: [Double], hiddenBias: [Double], visibleBias: [Double]

    init(visible: Int, hidden: Int, parameters: [Float]) {
        self.visible = visible
        self.hidden = hidden
        let values = parameters.map(Double.init)
        weights = Array(values[0..<(visible * hidden)])
        hiddenBias = Array(values[(visible * hidden)..<(visible * hidden + hidden)])
        visibleBias = Array(values[(visible * hidden + hidden)...])
    }

    /// E(v, h) = -v.b_v - h.b_h - h W v.
    func energy(_ v: [Double], _ h: [Double]) -> Double {
        var energy = 0.0
        for k in 0..<visible { energy -= v[k] * visibleBias[k] }
        for j in 0..<hidden {
            var input = hiddenBias[j]
            for k in 0..<visible { input += weights[j * visible + k] * v[k] }
            energy -= h[j] * input
        }
        return energy
    }

    /// F(v) = -log sum_h exp(-E(v, h)), summing over all 2^H hidden vectors.
    func freeEnergy(_ v: [Double]) -> Double {
        -log(allBinaryRows(hidden).reduce(0) { $0 + exp(-energy(v, $1)) })
    }

    /// dF/dtheta in the flat parameter order: dF/dW_jk = -sigmoid_j(v) v_k, dF/db_h = -sigmoid(v), dF/db_v = -v.
    func freeEnergyGradient(_ v: [Double]) -> [Double] {
        let h = (0..<hidden).map { j in
            var input = hiddenBias[j]
            for k in 0..<visible { input += weights[j * visible + k] * v[k] }
            return 1 / (1 + exp(-input))
        }
        return (0..<hidden).flatMap { j in (0..<visible).map { -h[j] * v[$0] } } + h.map { -$0 } + v.map { -$0 }
    }

    /// p(v) = exp(-F(v)) / Z over all 2^V visible vectors.
    func visibleDistribution() -> [(v: [Double], probability: Double)] {
        let rows = allBinaryRows(visible)
        let weights = rows.map { exp(-freeEnergy($0)) }
        let partition = weights.reduce(0, +)
        return zip(rows, weights).map { ($0, $1 / partition) }
    }
}

@Suite struct RBMEnumerationTests {
    static let (visible, hidden) = (6, 4)
    static let parameters = seededUniforms(visible * hidden + hidden + visible, seed: 5, low: -1.5, high: 1.5)

    /// F(v) of the model equals -log sum_h exp(-E(v, h)) for all 64 visible vectors.
    @Test func freeEnergyMatchesItsDefinition() throws {
        let model = smallRBM(visible: Self.visible, hidden: Self.hidden, chains: 1, parameters: Self.parameters)
        let exact = EnumeratedRBM(visible: Self.visible, hidden: Self.hidden, parameters: Self.parameters)
        let rows = allBinaryRows(Self.visible)
        let energies = withoutGradient { model.freeEnergy(Tensor(shape: [rows.count, Self.visible], values: rows.flatMap { $0.map(Float.init) })).value.scalars }
        for (row, energy) in zip(rows, energies) {
            let expected = exact.freeEnergy(row)
            #expect(abs(Double(energy) - expected) <= 1e-5 * max(1, abs(expected)), "v \(row): \(energy) against \(expected)")
        }
    }

    /// The gradient of the CD loss after k Gibbs steps of 3,000 chains matches the exact gradient of the negative mean
    /// log-likelihood, mean_data dF - E_p dF, within 4.5 standard errors of the chains' mean (the variance is exact, by
    /// enumeration, too) for CD-100; CD-1 from the chains' initial state (h = 0) is biased far beyond that bound, so the
    /// test can tell.
    @Test func contrastiveDivergenceWithManyGibbsStepsMatchesTheExactGradient() throws {
        let (visible, hidden, chains) = (Self.visible, Self.hidden, 3000)
        let exact = EnumeratedRBM(visible: visible, hidden: hidden, parameters: Self.parameters)
        let patterns: [[Double]] = [[1, 1, 0, 0, 1, 0], [0, 1, 1, 0, 0, 1], [1, 0, 0, 1, 1, 1]]
        let data = (0..<chains).map { patterns[$0 % patterns.count] }
        let distribution = exact.visibleDistribution()
        let count = Self.parameters.count
        var modelMean = [Double](repeating: 0, count: count), modelSquare = [Double](repeating: 0, count: count)
        for (v, probability) in distribution {
            for (index, value) in exact.freeEnergyGradient(v).enumerated() {
                modelMean[index] += probability * value
                modelSquare[index] += probability * value * value
            }
        }
        var dataMean = [Double](repeating: 0, count: count)
        for pattern in patterns {
            for (index, value) in exact.freeEnergyGradient(pattern).enumerated() { dataMean[index] += value / Double(patterns.count) }
        }
        let expected = zip(dataMean, modelMean).map { $0 - $1 }
        let standardError = zip(modelSquare, modelMean).map { (($0 - $1 * $1) / Double(chains)).squareRoot() }

        func cdGradient(gibbsSteps: Int) throws -> [Double] {
            // Learning rate 0: the step leaves the parameters where they are and its summed gradient in the group.
            let model = smallRBM(visible: visible, hidden: hidden, chains: chains, parameters: Self.parameters, gibbsSteps: gibbsSteps, learningRate: 0)
            let images = Tensor(shape: [chains, visible], values: data.flatMap { $0.map(Float.init) })
            let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 3), step: 0), globalBatch: chains)
            _ = try model.trainStep(TrainingBatch(images: images), context: context)
            #expect(model.group.flatValues == Self.parameters)
            return model.group.flatGradients.map(Double.init)
        }
        let deviations = try cdGradient(gibbsSteps: 100).enumerated().map { abs($1 - expected[$0]) / standardError[$0] }
        #expect(deviations.max()! < 4.5, "largest deviation \(deviations.max()!) standard errors: \(deviations)")
        let biased = try cdGradient(gibbsSteps: 1).enumerated().map { abs($1 - expected[$0]) / standardError[$0] }
        #expect(biased.max()! > 10, "CD-1 from h = 0 should be biased: \(biased.max()!) standard errors")
    }
}

@Suite struct RBMUpdateTests {
    /// One step through `descend` with SGD(0.1) equals scikit-learn's update written out, in Float64:
    /// W += lr/B (h_pos^T v_pos - h_neg^T v_neg), b_h += lr/B sum(h_pos - h_neg), b_v += lr/B sum(v_pos - v_neg), and the
    /// chains become the draw u < h_neg of probabilities computed before the update.
    @Test func aStepIsScikitLearnsUpdateFormula() throws {
        let (visible, hidden, batch) = (7, 3, 5)
        let parameters = seededUniforms(visible * hidden + hidden + visible, seed: 11, low: -1, high: 1)
        let model = smallRBM(visible: visible, hidden: hidden, chains: batch, parameters: parameters)
        let chains = seededUniforms(batch * hidden, seed: 12, low: 0, high: 1).map { $0 < 0.5 ? Float(1) : 0 }
        chains.withUnsafeBufferPointer { model.group.state.pointer.update(from: $0.baseAddress!, count: $0.count) }
        let pixelValues = seededUniforms(batch * visible, seed: 13, low: 0, high: 1)
        let pixels = Tensor(shape: [batch, visible], values: pixelValues)
        let context = StepContext(forward: ForwardContext(training: true, random: CounterRandom(seed: 4), step: 9), globalBatch: batch)
        _ = try model.trainStep(TrainingBatch(images: pixels), context: context)

        // The same uniforms the step draws (stream, step and global index).
        let random = CounterRandom(seed: 4)
        let visibleUniforms = random.uniformTensor(stream: RestrictedBoltzmannMachine.visibleStream, step: 9, samples: 0..<batch, shape: [visible]).scalars
        let hiddenUniforms = random.uniformTensor(stream: RestrictedBoltzmannMachine.hiddenStream, step: 9, samples: 0..<batch, shape: [hidden]).scalars
        let exact = EnumeratedRBM(visible: visible, hidden: hidden, parameters: parameters)
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        func meanHiddens(_ v: [Double]) -> [Double] {
            (0..<hidden).map { j in
                var input = exact.hiddenBias[j]
                for k in 0..<visible { input += exact.weights[j * visible + k] * v[k] }
                return sigmoid(input)
            }
        }
        var vPos = [[Double]](repeating: [Double](repeating: 0, count: visible), count: batch), vNeg = vPos
        for row in 0..<batch {
            for k in 0..<visible {
                vPos[row][k] = pixelValues[row * visible + k] > 0.5 ? 1 : 0
                var input = exact.visibleBias[k]
                for j in 0..<hidden { input += Double(chains[row * hidden + j]) * exact.weights[j * visible + k] }
                vNeg[row][k] = Double(visibleUniforms[row * visible + k]) < sigmoid(input) ? 1 : 0
            }
        }
        let (hPos, hNeg) = (vPos.map(meanHiddens), vNeg.map(meanHiddens))
        let rate = 0.1 / Double(batch)
        var expected = exact.weights + exact.hiddenBias + exact.visibleBias
        for row in 0..<batch {
            for j in 0..<hidden {
                for k in 0..<visible { expected[j * visible + k] += rate * (hPos[row][j] * vPos[row][k] - hNeg[row][j] * vNeg[row][k]) }
                expected[visible * hidden + j] += rate * (hPos[row][j] - hNeg[row][j])
            }
            for k in 0..<visible { expected[visible * hidden + hidden + k] += rate * (vPos[row][k] - vNeg[row][k]) }
        }
        let moved = zip(expected, parameters).map { abs($0 - Double($1)) }.max()!
        #expect(moved > 1e-3, "the step should move the parameters")
        let difference = zip(model.group.flatValues, expected).map { abs(Double($0) - $1) }.max()!
        #expect(difference < 1e-6, "largest difference from the formula \(difference)")
        var newChains = [Float](repeating: 0, count: batch * hidden)
        for index in newChains.indices where Double(hiddenUniforms[index]) < hNeg[index / hidden][index % hidden] { newChains[index] = 1 }
        #expect(model.chains.value.scalars == newChains)
    }

    /// `binarize: sample` draws each visible unit as Bernoulli(intensity) with the step's uniforms for its global batch
    /// position: the data term of the gradient (dF/db_v = -v) shows the draw, and its mean over many units is the intensity.
    @Test func sampledBinarisationDrawsBernoulliOfTheIntensity() throws {
        let (visible, batch) = (50, 40)
        let model = RestrictedBoltzmannMachine(seed: 1, sampleShape: [visible], hiddenCount: 2, chainCount: batch, binarization: .sample,
                                               optimizer: SGD(learningRate: 0))
        let pixels = Tensor(repeating: 0.3, shape: [batch, visible])
        let random = CounterRandom(seed: 6)
        _ = try model.trainStep(TrainingBatch(images: pixels), context: StepContext(forward: ForwardContext(training: true, random: random, step: 2),
                                                                                   globalBatch: batch))
        let uniforms = random.uniformTensor(stream: RestrictedBoltzmannMachine.dataStream, step: 2, samples: 0..<batch, shape: [visible]).scalars
        let drawn = (0..<(batch * visible)).map { uniforms[$0] < 0.3 ? 1.0 : 0.0 }
        #expect(abs(drawn.reduce(0, +) / Double(drawn.count) - 0.3) < 0.03)
        // The visible bias's gradient is -(1/B) sum v_data + (1/B) sum v_model; with the model part known (the chains'
        // visible draws from h = 0 use the visible stream), the data part must be the drawn units.
        let gibbs = random.uniformTensor(stream: RestrictedBoltzmannMachine.visibleStream, step: 2, samples: 0..<batch, shape: [visible]).scalars
        let modelUnits = gibbs.map { $0 < 0.5 ? 1.0 : 0.0 }  // b_v = 0 and h = 0: P(v = 1) = 1/2
        let gradient = model.group.flatGradients.suffix(visible).map(Double.init)
        for unit in 0..<visible {
            let column = { (values: [Double]) in (0..<batch).reduce(0.0) { $0 + values[$1 * visible + unit] } / Double(batch) }
            #expect(abs(gradient[unit] - (column(modelUnits) - column(drawn))) < 1e-5, "unit \(unit)")
        }
    }

    /// On two ranks each rank advances its own batch positions and one sum gives both every chain: the same
    /// parameters and chains as one rank (the other rank's sums simulated from a one-rank model's step).
    @Test func twoRankSharesOfAStepEqualOneRank() throws {
        let (visible, hidden, batch) = (7, 3, 5)
        let parameters = seededUniforms(visible * hidden + hidden + visible, seed: 21, low: -1, high: 1)
        let pixels = Tensor(shape: [batch, visible], values: seededUniforms(batch * visible, seed: 22, low: 0, high: 1))
        let forward = ForwardContext(training: true, random: CounterRandom(seed: 5), step: 3)
        let alone = smallRBM(visible: visible, hidden: hidden, chains: batch, parameters: parameters)
        _ = try alone.trainStep(TrainingBatch(images: pixels), context: StepContext(forward: forward, globalBatch: batch))
        // Rank 1's part: a model stepping positions 3..<5 with rank 1's share, its gradients and chain sums recorded.
        var models: [RestrictedBoltzmannMachine] = []
        var gradients: [[Float]] = [[], []], chainSums: [[Double]] = [[], []]
        for pass in 0..<2 {
            for rank in [1, 0] {
                let model = smallRBM(visible: visible, hidden: hidden, chains: batch, parameters: parameters)
                let share = BatchShare(of: batch, rank: rank, worldSize: 2)
                let rows = Tensor(shape: [share.count, visible], values: Array(pixels.scalars[(share.samples.lowerBound * visible)..<(share.samples.upperBound * visible)]))
                let other = 1 - rank
                let context = StepContext(forward: forward, globalBatch: batch, rank: rank, worldSize: 2, reduceGradients: { group in
                    let mine = group.flatGradients
                    gradients[rank] = mine
                    if pass == 1 { group.gradients.pointer.update(from: zip(mine, gradients[other]).map { $0 + $1 }, count: mine.count) }
                }, reduceSum: { values in
                    chainSums[rank] = values
                    if pass == 1 { values = zip(values, chainSums[other]).map { $0 + $1 } }
                })
                _ = try model.trainStep(TrainingBatch(images: rows), context: context)
                if pass == 1 { models.append(model) }
            }
        }
        for model in models {
            let difference = zip(model.group.flatValues, alone.group.flatValues).map { abs($0 - $1) }.max()!
            #expect(difference < 1e-6)
            #expect(model.chains.value.scalars == alone.chains.value.scalars)
        }
    }
}

@Suite struct RBMScikitLearnTests {
    static func fixture() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rbm_sklearn.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func numbers(_ value: Any?) throws -> [Double] {
        if let rows = value as? [[Double]] { return rows.flatMap { $0 } }
        return try #require(value as? [Double])
    }

    /// Largest |a - b| over the largest |b|.
    static func relative(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count, !b.isEmpty else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max()! / max(b.map(abs).max()!, 1e-300)
    }

    static func model(_ fixture: [String: Any]) throws -> RestrictedBoltzmannMachine {
        let (visible, hidden, chains) = (fixture["visible"] as! Int, fixture["hidden"] as! Int, fixture["chains"] as! Int)
        let parameters = try numbers(fixture["components"]) + numbers(fixture["intercept_hidden"]) + numbers(fixture["intercept_visible"])
        let model = smallRBM(visible: visible, hidden: hidden, chains: chains, parameters: parameters.map(Float.init))
        try numbers(fixture["h_samples"]).map(Float.init).withUnsafeBufferPointer { model.group.state.pointer.update(from: $0.baseAddress!, count: $0.count) }
        return model
    }

    /// Free energy and mean hiddens (`transform`) to 1e-6 relative; the pseudo-likelihood, a difference of two
    /// Float32 free energies times 12, to 1e-5.
    @Test func deterministicPartsMatchScikitLearn() throws {
        let fixture = try Self.fixture()
        let model = try Self.model(fixture)
        let data = try Self.numbers(fixture["data"])
        let rows = data.count / model.visibleCount
        let visible = Tensor(shape: [rows, model.visibleCount], values: data.map(Float.init))
        let energies = withoutGradient { model.freeEnergy(visible).value.scalars.map(Double.init) }
        #expect(Self.relative(energies, try Self.numbers(fixture["free_energy"])) < 1e-6)
        let transform = model.hiddenProbabilities(visible).scalars.map(Double.init)
        #expect(Self.relative(transform, try Self.numbers(fixture["transform"])) < 1e-6)
        let flips = try #require(fixture["flips"] as? [Int])
        #expect(Self.relative(model.pseudoLikelihood(visible, flips: flips), try Self.numbers(fixture["pseudo_likelihood"])) < 1e-5)
    }

    /// One persistent-CD step with scikit-learn's uniforms injected: parameters to 1e-6 relative, chains exactly.
    @Test func oneFitStepMatchesScikitLearn() throws {
        let fixture = try Self.fixture()
        let model = try Self.model(fixture)
        let fit = try #require(fixture["fit"] as? [String: Any])
        let chains = model.chainCount
        let data = Tensor(shape: [chains, model.visibleCount], values: try Self.numbers(fixture["data"]).prefix(chains * model.visibleCount).map(Float.init))
        let visibleUniforms = Tensor(shape: [chains, model.visibleCount], values: try Self.numbers(fit["visible_uniforms"]).map(Float.init))
        let hiddenUniforms = Tensor(shape: [chains, model.hiddenCount], values: try Self.numbers(fit["hidden_uniforms"]).map(Float.init))
        _ = try model.contrastiveDivergenceStep(data: data, positions: 0..<chains, visibleUniforms: [visibleUniforms], hiddenUniforms: [hiddenUniforms],
                                                weight: 1 / Float(chains), context: StepContext(forward: ForwardContext(training: true), globalBatch: chains))
        let values = model.group.flatValues.map(Double.init)
        let (w, h) = (model.hiddenCount * model.visibleCount, model.hiddenCount)
        #expect(Self.relative(Array(values[0..<w]), try Self.numbers(fit["components"])) < 1e-6)
        #expect(Self.relative(Array(values[w..<(w + h)]), try Self.numbers(fit["intercept_hidden"])) < 1e-6)
        #expect(Self.relative(Array(values[(w + h)...]), try Self.numbers(fit["intercept_visible"])) < 1e-6)
        #expect(model.chains.value.scalars.map(Double.init) == (try Self.numbers(fit["h_samples"])))
        // And the step moved them: the comparison is not between untouched values.
        #expect(Self.relative(Array(values[0..<w]), try Self.numbers(fixture["components"])) > 1e-3)
    }
}
