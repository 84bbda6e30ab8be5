// The run's curves: training losses and evaluation metrics from metrics.jsonl, drawn as curves.png.

import DataIO
import Foundation

/// Keys of a training record that are not curves.
let bookkeepingKeys: Set<String> = ["step", "epoch", "iteration", "images_per_second", "step_seconds_slowest", "step_seconds_fastest"]
/// Evaluation metrics drawn as curves, in this order.
let evaluationCurveKeys = ["validation_loss", "validation_reconstruction", "validation_kl", "fid", "kid_mean", "is_mean", "accuracy", "eval_loss"]

/// The curves of a metrics.jsonl file: each training loss (averaged over windows when there are more points
/// than `maximumPoints`), then each evaluation metric, against the step.
public func curveSeries(metricsPath: String, maximumPoints: Int = 600) -> [ChartSeries] {
    guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else { return [] }
    var training: [String: [(x: Double, y: Double)]] = [:], evaluation: [String: [(x: Double, y: Double)]] = [:]
    for line in text.split(separator: "\n") {
        guard let record = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let step = (record["step"] as? NSNumber)?.doubleValue else { continue }
        if record["event"] as? String == "eval" {
            for key in evaluationCurveKeys { if let value = (record[key] as? NSNumber)?.doubleValue { evaluation[key, default: []].append((step, value)) } }
        } else if record["event"] == nil {
            // (The final report, `"event": "final"`, is one record of results, not a curve.)
            for (key, value) in record where !bookkeepingKeys.contains(key) {
                if let number = (value as? NSNumber)?.doubleValue { training[key, default: []].append((step, number)) }
            }
        }
    }
    func thinned(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        let window = (points.count + maximumPoints - 1) / maximumPoints
        guard window > 1 else { return points }
        return stride(from: 0, to: points.count, by: window).map { start in
            let chunk = points[start..<min(start + window, points.count)]
            return (chunk.last!.x, chunk.reduce(0) { $0 + $1.y } / Double(chunk.count))
        }
    }
    return training.keys.sorted().map { ChartSeries(name: $0, points: thinned(training[$0]!)) }
        + evaluationCurveKeys.compactMap { key in evaluation[key].map { ChartSeries(name: "eval " + key, points: $0) } }
}

/// Draws the curves of a run folder's metrics.jsonl into its curves.png.
public func writeCurves(runFolder: String) throws {
    let series = curveSeries(metricsPath: runFolder + "/metrics.jsonl")
    guard !series.isEmpty else { return }
    try lineCharts(series).writePNG(to: runFolder + "/curves.png")
}
