import Foundation
import Testing
@testable import TensorCore

/// Gumbel noise, the Gumbel-softmax relaxation and the categorical KL (CategoricalOps.swift).
@Suite struct CategoricalTests {
    /// Standard Gumbel noise has mean Euler's gamma (0.5772) and variance pi^2 / 6 (1.6449); a sample's noise depends
    /// only on its global index.
    @Test func gumbelNoiseHasTheStandardGumbelMoments() {
        let random = CounterRandom(seed: 5)
        let noise = random.gumbelTensor(stream: 7, step: 3, samples: 0..<2000, shape: [25]).scalars.map(Double.init)
        let mean = noise.reduce(0, +) / Double(noise.count)
        let variance = noise.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(noise.count - 1)
        // Standard errors over 50,000 draws: 0.0057 for the mean, about 0.02 for the variance.
        #expect(abs(mean - 0.57722) < 0.03, "mean \(mean)")
        #expect(abs(variance - Double.pi * Double.pi / 6) < 0.1, "variance \(variance)")
        let part = random.gumbelTensor(stream: 7, step: 3, samples: 10..<12, shape: [25]).scalars
        #expect(part == Array(noise[250..<300].map(Float.init)))
        // Every word gives finite noise: the extremes are -3.1 and 22.9 (a dVAE run once met an infinite draw at step 903).
        let extremes = [CounterRandom.gumbel(word: 0), CounterRandom.gumbel(word: .max)]
        #expect(abs(extremes[0] + 3.1) < 0.05 && abs(extremes[1] - 22.9) < 0.05, "\(extremes)")
    }

    /// The argmax of a Gumbel-softmax sample is a draw from softmax(logits), at any temperature and in the hard variant:
    /// the category counts of 20,000 samples pass a chi-square test against the softmax probabilities.
    @Test(arguments: [(Float(1), false), (Float(0.5), false), (Float(0.5), true)])
    func argmaxOfTheSampleFollowsTheSoftmax(temperature: Float, hard: Bool) {
        let logits: [Float] = [0.5, -1, 2, 0, 1]
        let (rows, classes) = (20_000, logits.count)
        let batch = Tensor(shape: [rows, classes], values: Array((0..<rows).map { _ in logits }.joined()))
        let noise = CounterRandom(seed: 11).gumbelTensor(stream: 1, step: 0, samples: 0..<rows, shape: [classes])
        let sample = withoutGradient { gumbelSoftmax(Variable(batch), noise: noise, temperature: temperature, hard: hard).value }
        var counts = [Double](repeating: 0, count: classes)
        let values = sample.scalars
        for row in 0..<rows {
            let slice = values[(row * classes)..<((row + 1) * classes)]
            counts[slice.indices.max { slice[$0] < slice[$1] }! - row * classes] += 1
            #expect(abs(slice.reduce(0, +) - 1) < 1e-5)
            if hard { #expect(slice.allSatisfy { $0 == 0 || $0 == 1 }) }
        }
        let largest = logits.max()!
        let weights = logits.map { Foundation.exp(Double($0 - largest)) }
        let probabilities = weights.map { $0 / weights.reduce(0, +) }
        let chiSquare = zip(counts, probabilities).reduce(0) { $0 + pow($1.0 - Double(rows) * $1.1, 2) / (Double(rows) * $1.1) }
        // 4 degrees of freedom: P(chi^2 > 23.5) = 1e-4. Noise -log(u) instead of -log(-log u) gives chi^2 in the thousands.
        #expect(chiSquare < 23.5, "counts \(counts), expected \(probabilities.map { $0 * Double(rows) }), chi^2 \(chiSquare)")
    }

    /// At fixed noise, the relaxed sample's gradient with respect to the logits matches central differences; the hard
    /// variant's value is one-hot and its gradient is exactly the relaxed sample's (straight-through).
    @Test func gumbelSoftmaxGradientsAtFixedNoise() {
        let logits = randomTensor([2, 3, 4], seed: 21, low: -2, high: 2)
        let noise = CounterRandom(seed: 2).gumbelTensor(stream: 3, step: 1, samples: 0..<2, shape: [3, 4])
        for temperature: Float in [1, 0.6] {
            checkGradients([logits], step: 1e-3) { gumbelSoftmax($0[0], noise: noise, temperature: temperature) }
        }
        let projection = randomTensor([2, 3, 4], seed: 5)
        func gradient(hard: Bool) -> [Float] {
            let x = Variable(logits, requiresGradient: true)
            sum(gumbelSoftmax(x, noise: noise, temperature: 0.6, hard: hard) * Variable(projection)).backward()
            return x.gradient!.scalars
        }
        #expect(gradient(hard: true) == gradient(hard: false))
        #expect(gradient(hard: false).contains { abs($0) > 1e-3 })
        let hard = withoutGradient { gumbelSoftmax(Variable(logits), noise: noise, temperature: 0.6, hard: true).value }
        let relaxed = withoutGradient { gumbelSoftmax(Variable(logits), noise: noise, temperature: 0.6).value }
        #expect(hard.scalars == oneHotOfLargest(relaxed).scalars)
        #expect(oneHotOfLargest(Tensor(shape: [2, 3], values: [1, 3, 3, -1, -2, -5])).scalars == [0, 1, 0, 1, 0, 0])
    }

    /// KL(softmax(x) || uniform) against its closed form `log K - H(q)` in Float64, at its ends (0 for equal logits,
    /// log K for one dominant logit), and its gradient by central differences.
    @Test func divergenceFromUniformMatchesItsClosedForm() {
        let logits = randomTensor([3, 2, 6], seed: 8, low: -3, high: 3)
        let divergence = withoutGradient { categoricalDivergenceFromUniform(logits: Variable(logits)).value }
        #expect(divergence.shape == [3, 2])
        let values = logits.scalars.map(Double.init)
        for row in 0..<6 {
            let x = values[(row * 6)..<((row + 1) * 6)]
            let total = x.map { Foundation.exp($0) }.reduce(0, +)
            let q = x.map { Foundation.exp($0) / total }
            let entropy = -q.reduce(0) { $0 + $1 * Foundation.log($1) }
            let expected = Foundation.log(6) - entropy
            #expect(abs(Double(divergence.scalars[row]) - expected) < 1e-5, "row \(row): \(divergence.scalars[row]) vs \(expected)")
        }
        let ends = withoutGradient {
            categoricalDivergenceFromUniform(logits: Variable(Tensor(shape: [2, 4], values: [0.3, 0.3, 0.3, 0.3, 40, 0, 0, 0]))).value.scalars
        }
        #expect(abs(ends[0]) < 1e-6 && abs(ends[1] - Float(Foundation.log(4.0))) < 1e-5, "\(ends)")
        checkGradients([logits], step: 1e-3) { categoricalDivergenceFromUniform(logits: $0[0]) }
    }
}
