// How metrics.jsonl becomes the panels of curves.png: a model's shared panels with their legend names, the
// validation loss beside the training loss, each other series alone, titles and legends ending with the last value.

@testable import DistributedTraining
import DataIO
import Foundation
import Models
import Testing

@Suite struct CurvePanelTests {
    func metrics(_ lines: [String]) throws -> String {
        let path = NSTemporaryDirectory() + "gentrain-curves-\(UUID().uuidString).jsonl"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aGANsLossesShareOnePanelWithALegend() throws {
        let path = try metrics((1...3).map { #"{"step": \#($0), "epoch": 0.1, "images_per_second": 10, "d_loss_real": 0.\#($0), "d_loss_fake": 0.5, "g_loss": 2}"# }
                               + [#"{"event": "eval", "step": 3, "fid": 40.5, "kid_mean": 0.02}"#])
        let panels = curvePanels(curveSeries(metricsPath: path), sharedPanels: DCGAN.description.make(
            ModelConfiguration(schema: DCGAN.description.schema, seed: 1)).curvePanels)
        #expect(panels.map(\.title) == ["binary cross-entropy per image", "FID (lower is better): last 40.5", "KID (lower is better): last 0.02"])
        #expect(panels[0].series.map(\.name) == ["D real: 0.3", "D fake: 0.5", "G: 2"])
        #expect(panels[1].series.map(\.style) == [.points] && panels[0].series.map(\.style) == [.line, .line, .line])
        #expect(drawCharts(panels).width == 960)
    }

    @Test func theValidationLossJoinsTheTrainingLoss() throws {
        let path = try metrics([#"{"step": 1, "loss": 3, "kl": 0.5}"#, #"{"step": 2, "loss": 2, "kl": 0.25}"#,
                                #"{"event": "eval", "step": 2, "validation_loss": 2.5}"#, #"{"event": "final", "step": 2, "bic": 7}"#])
        let panels = curvePanels(curveSeries(metricsPath: path))
        #expect(panels.map(\.title) == ["kl: last 0.25", "loss"])
        #expect(panels[1].series.map(\.name) == ["training: 2", "validation: 2.5"])
        #expect(panels[1].series[1].points.map(\.y) == [2.5])
    }
}
