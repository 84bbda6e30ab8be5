import Testing
@testable import TensorCore

/// The feature-map ops in every layout: against naive twins, finite differences, and each other across layouts.
@Suite struct FeatureMapTests {
    static let layouts: [TensorLayout] = [.standard, .channelBlocked(8), .channelBlocked(16)]

    @Test(arguments: layouts)
    func perImageChannelBias(layout: TensorLayout) {
        let x = randomTensor([3, 16, 2, 3], seed: 1), bias = randomTensor([3, 16], seed: 2)
        let y = addPerImageChannelBias(Variable(x.converted(to: layout)), Variable(bias))
        #expect(y.storedValue.layout == layout)
        #expect(abs(y.value[2, 9, 1, 2] - (x[2, 9, 1, 2] + bias[2, 9])) < 1e-6)
        #expect(abs(y.value[0, 15, 0, 0] - (x[0, 15, 0, 0] + bias[0, 15])) < 1e-6)
        checkGradients([x, bias]) { addPerImageChannelBias(converted($0[0], to: layout), $0[1]) }
    }

    @Test(arguments: layouts)
    func concatenationMatchesNaiveTwin(layout: TensorLayout) {
        let parts = [randomTensor([2, 16, 3, 2], seed: 3), randomTensor([2, 32, 3, 2], seed: 4), randomTensor([2, 16, 3, 2], seed: 5)]
        let blocked = parts.map { $0.converted(to: layout) }
        let y = concatenateChannels(blocked.map { Variable($0) })
        #expect(y.storedValue.layout == layout && y.shape == [2, 64, 3, 2])
        let naive = Tensor(uninitialized: [2, 64, 3, 2], layout: layout)
        concatenateChannelsNaive(output: naive.storagePointer, parts: blocked.map { (UnsafePointer($0.storagePointer), $0.shape) }, layout: layout)
        #expect((0..<naive.count).allSatisfy { y.storedValue.storagePointer[$0] == naive.storagePointer[$0] })
        #expect(y.value[1, 20, 2, 1] == parts[1][1, 4, 2, 1] && y.value[0, 63, 0, 0] == parts[2][0, 15, 0, 0])
        checkGradients(parts) { concatenateChannels($0.map { converted($0, to: layout) }) }
    }

    /// Parts in different layouts are joined row-major, and their gradients reach each in its own layout.
    @Test func concatenationOfMixedLayouts() {
        let parts = [randomTensor([2, 8, 2, 2], seed: 6), randomTensor([2, 16, 2, 2], seed: 7)]
        let y = concatenateChannels([Variable(parts[0]), Variable(parts[1].converted(to: .channelBlocked(16)))])
        #expect(y.storedValue.layout == .standard && y.value[1, 12, 1, 0] == parts[1][1, 4, 1, 0])
        checkGradients(parts) { concatenateChannels([$0[0], converted($0[1], to: .channelBlocked(8))]) }
    }

    @Test(arguments: layouts)
    func upsamplingMatchesNaiveTwin(layout: TensorLayout) {
        let x = randomTensor([2, 16, 3, 2], seed: 8).converted(to: layout)
        let y = upsampleNearest(Variable(x), factor: 2)
        #expect(y.storedValue.layout == layout && y.shape == [2, 16, 6, 4])
        let naive = Tensor(uninitialized: y.shape, layout: layout)
        upsampleNearestNaive(output: naive.storagePointer, input: x.storagePointer, shape: x.shape, factor: 2, layout: layout)
        #expect((0..<naive.count).allSatisfy { y.storedValue.storagePointer[$0] == naive.storagePointer[$0] })
        checkGradients([randomTensor([2, 16, 2, 3], seed: 9)]) { upsampleNearest(converted($0[0], to: layout), factor: 2) }
        checkGradients([randomTensor([1, 16, 2, 2], seed: 10)]) { upsampleNearest(converted($0[0], to: layout), factor: 3) }
    }

    @Test func sumOfMapsInAnyLayouts() {
        let a = randomTensor([2, 16, 2, 2], seed: 11), b = randomTensor([2, 16, 2, 2], seed: 12)
        let y = addFeatureMaps(Variable(a.converted(to: .channelBlocked(16))), Variable(b.converted(to: .channelBlocked(8))))
        #expect(y.storedValue.layout == .channelBlocked(16) && abs(y.value[1, 3, 1, 0] - a[1, 3, 1, 0] - b[1, 3, 1, 0]) < 1e-6)
        for (first, second) in [(TensorLayout.standard, TensorLayout.channelBlocked(16)), (.channelBlocked(8), .channelBlocked(8))] {
            checkGradients([a, b]) { addFeatureMaps(converted($0[0], to: first), converted($0[1], to: second)) }
        }
        checkGradients([a]) { addFeatureMaps($0[0], $0[0]) }
    }
}
