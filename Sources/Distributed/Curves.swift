// The run's curves: training losses and evaluation metrics from metrics.jsonl, drawn as curves.png.

import DataIO
import Foundation
import Models

/// Keys of a training record that are not curves.
let bookkeepingKeys: Set<String> = ["step", "epoch", "iteration", "images_per_second", "step_seconds_slowest", "step_seconds_fastest",
                                     "compute_seconds_slowest", "wait_seconds_longest", "straggler_rank"]
/// Evaluation metrics drawn as curves, in this order, with their panel titles.
let evaluationCurves: [(key: String, title: String)] = [
    ("validation_loss", "validation loss"), ("fid", "FID (lower is better)"), ("kid_mean", "KID (lower is better)"),
    ("is_mean", "Inception Score (higher is better)"), ("accuracy", "accuracy"), ("eval_loss", "evaluation loss"),
]

/// The curves of a metrics.jsonl file: each training loss (averaged over windows when there are more points
/// than `maximumPoints`), then each evaluation metric ("eval " and its key), against the step.
public func curveSeries(metricsPath: String, maximumPoints: Int = 600) -> [ChartSeries] {
    guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else { return [] }
    var training: [String: [(x: Double, y: Double)]] = [:], evaluation: [String: [(x: Double, y: Double)]] = [:]
    for line in text.split(separator: "\n") {
        guard let record = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let step = (record["step"] as? NSNumber)?.doubleValue else { continue }
        if record["event"] as? String == "eval" {
            for (key, _) in evaluationCurves { if let value = (record[key] as? NSNumber)?.doubleValue { evaluation[key, default: []].append((step, value)) } }
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
        + evaluationCurves.compactMap { key, _ in evaluation[key].map { ChartSeries(name: "eval " + key, points: $0, style: .points) } }
}

/// The panels of curves.png: the model's shared panels (a legend names their series), then each other training loss,
/// then each evaluation metric; the validation loss shares the panel of the training loss `loss`. Titles and legends
/// end with the last value.
public func curvePanels(_ series: [ChartSeries], sharedPanels: [CurvePanel] = []) -> [ChartPanel] {
    var remaining = Dictionary(series.map { ($0.name, $0) }) { first, _ in first }
    func take(_ name: String) -> ChartSeries? { remaining.removeValue(forKey: name) }
    func named(_ one: ChartSeries, _ name: String) -> ChartSeries {
        ChartSeries(name: name + (one.points.last.map { ": " + format($0.y) } ?? ""), points: one.points, style: one.style)
    }
    func validation(joining keys: [String]) -> ChartSeries? {
        keys.contains("loss") ? take("eval validation_loss").map { named($0, "validation") } : nil
    }
    var panels: [ChartPanel] = []
    for panel in sharedPanels {
        let members = panel.series.compactMap { key, name in take(key).map { named($0, name) } }
        guard !members.isEmpty else { continue }
        panels.append(ChartPanel(title: panel.title, series: members + [validation(joining: panel.series.map(\.key))].compactMap { $0 }))
    }
    for one in series where remaining[one.name] != nil && !one.name.hasPrefix("eval ") {
        _ = take(one.name)
        if let validation = validation(joining: [one.name]) {
            panels.append(ChartPanel(title: one.name.replacingOccurrences(of: "_", with: " "), series: [named(one, "training"), validation]))
        } else {
            panels.append(ChartPanel(title: one.name.replacingOccurrences(of: "_", with: " ") + lastValue(one), series: [one]))
        }
    }
    for (key, title) in evaluationCurves {
        if let one = take("eval " + key) { panels.append(ChartPanel(title: title + lastValue(one), series: [one])) }
    }
    return panels
}

/// ": last V" for a series with points.
func lastValue(_ series: ChartSeries) -> String { series.points.last.map { ": last " + format($0.y) } ?? "" }

/// Draws the curves of a run folder's metrics.jsonl into its curves.png.
public func writeCurves(runFolder: String, sharedPanels: [CurvePanel] = []) throws {
    let panels = curvePanels(curveSeries(metricsPath: runFolder + "/metrics.jsonl"), sharedPanels: sharedPanels)
    guard !panels.isEmpty else { return }
    try drawCharts(panels).writePNG(to: runFolder + "/curves.png")
}
