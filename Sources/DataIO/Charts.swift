// Curves as a picture, drawn by Cairo: panels of series against the step, each with its title, a step axis and a
// value axis with ticks, labels and light grid lines, a legend when several series share it, and a log value axis
// when its values span decades. Every panel shares the step axis, so a single evaluation sits at its step.

import Foundation

/// A named series of (step, value) points.
public struct ChartSeries: Sendable {
    /// How the points are drawn.
    public enum Style: Sendable {
        /// A line through the points (training curves).
        case line
        /// Each point marked, the marks joined by lines (evaluations).
        case points
    }

    public let name: String
    public let points: [(x: Double, y: Double)]
    public let style: Style

    public init(name: String, points: [(x: Double, y: Double)], style: Style = .line) {
        self.name = name
        self.points = points
        self.style = style
    }
}

/// One panel: a title and the series that share its axes (a legend names them when there are several).
public struct ChartPanel: Sendable {
    public let title: String
    public let series: [ChartSeries]

    public init(title: String, series: [ChartSeries]) {
        self.title = title
        self.series = series
    }
}

/// The panels that have points, `columns` to a row, each `panelWidth` x `panelHeight` pixels, against one step axis
/// (labelled `xLabel`).
public func drawCharts(_ panels: [ChartPanel], xLabel: String = "step", columns: Int = 2, panelWidth: Int = 480, panelHeight: Int = 300) -> Image8 {
    let shown = panels.filter { panel in panel.series.contains { series in series.points.contains { $0.y.isFinite } } }
    let columns = max(1, min(columns, shown.count)), rows = max(1, (shown.count + columns - 1) / columns)
    let canvas = CairoCanvas(width: columns * panelWidth, height: rows * panelHeight)
    let steps = shown.flatMap { $0.series.flatMap { $0.points.map(\.x) } }
    let stepRange = paddedRange(steps.min() ?? 0, steps.max() ?? 1, fraction: 0.03)
    for (index, panel) in shown.enumerated() {
        canvas.drawPanel(panel, left: (index % columns) * panelWidth, top: (index / columns) * panelHeight, width: panelWidth, height: panelHeight,
                         stepRange: stepRange, xLabel: xLabel)
    }
    return canvas.image()
}

/// `low...high` widened by `fraction` of its span on each side (a span of zero becomes ±10% of the value, or ±1).
func paddedRange(_ low: Double, _ high: Double, fraction: Double) -> ClosedRange<Double> {
    guard high > low else {
        let half = low == 0 ? 1 : abs(low) * 0.1
        return (low - half)...(high + half)
    }
    let pad = (high - low) * fraction
    return (low - pad)...(high + pad)
}

/// Round ticks (1, 2 or 5 times a power of ten apart) inside `range`, about `target` of them.
func niceTicks(_ range: ClosedRange<Double>, target: Int = 5) -> (values: [Double], spacing: Double) {
    let raw = (range.upperBound - range.lowerBound) / Double(target)
    let magnitude = pow(10, (log10(raw)).rounded(.down)), residual = raw / magnitude
    let spacing = (residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10) * magnitude
    let first = (range.lowerBound / spacing).rounded(.up)
    let last = (range.upperBound / spacing).rounded(.down)
    guard first <= last else { return ([], spacing) }
    return (stride(from: first, through: last, by: 1).map { $0 * spacing }, spacing)
}

/// A tick label with as many decimals as the tick spacing needs.
func tickLabel(_ value: Double, spacing: Double) -> String {
    if abs(value) < spacing * 1e-6 { return "0" }
    if abs(value) >= 1e7 || spacing < 1e-4 { return String(format: "%.2g", value) }
    let decimals = max(0, Int((-log10(spacing)).rounded(.up)))
    return String(format: "%.\(decimals)f", value)
}

/// The label of the power of ten 10^exponent.
func powerOfTenLabel(_ exponent: Int) -> String {
    (-4...5).contains(exponent) ? tickLabel(pow(10, Double(exponent)), spacing: pow(10, Double(min(exponent, 0)))) : "1e\(exponent)"
}

/// Compact numbers: whole numbers as integers, others with four significant digits.
public func format(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e7 { return String(Int(value)) }
    return String(format: "%.4g", value)
}

/// A value axis: linear, or logarithmic when every value is positive and they span two decades or more.
struct ValueAxis {
    let isLogarithmic: Bool
    /// The range in axis units (values, or their log10).
    let range: ClosedRange<Double>
    let ticks: [(position: Double, label: String)]

    init(values: [Double]) {
        let (low, high) = (values.min()!, values.max()!)
        isLogarithmic = low > 0 && high / low >= 100
        if isLogarithmic {
            range = paddedRange(log10(low), log10(high), fraction: 0.05)
            let exponents = Array(Int(range.lowerBound.rounded(.up))...Int(range.upperBound.rounded(.down)))
            let every = max(1, (exponents.count + 5) / 6)
            ticks = exponents.filter { $0 % every == 0 }.map { (Double($0), powerOfTenLabel($0)) }
        } else {
            range = paddedRange(low, high, fraction: 0.05)
            let (values, spacing) = niceTicks(range)
            ticks = values.map { ($0, tickLabel($0, spacing: spacing)) }
        }
    }

    func position(_ value: Double) -> Double { isLogarithmic ? log10(value) : value }
}

extension CairoCanvas {
    func drawPanel(_ panel: ChartPanel, left: Int, top: Int, width: Int, height: Int, stepRange: ClosedRange<Double>, xLabel: String) {
        let series = panel.series.filter { $0.points.contains { $0.y.isFinite } }
        let legendRows = series.count > 1 ? legendLayout(series, width: Double(width - 24)) : []
        let plot = (left: left + 64, right: left + width - 18, top: top + 34 + 16 * legendRows.count, bottom: top + height - 46)
        text(panel.title, x: Double(plot.left + plot.right) / 2, baseline: Double(top + 20), size: 13, anchor: .center)
        for (row, members) in legendRows.enumerated() {
            drawLegend(members, centre: Double(left + width / 2), baseline: Double(top + 40 + 16 * row))
        }
        let axis = ValueAxis(values: series.flatMap { $0.points.map(\.y).filter(\.isFinite) })
        func pixel(_ point: (x: Double, y: Double)) -> (x: Double, y: Double) {
            let u = (point.x - stepRange.lowerBound) / (stepRange.upperBound - stepRange.lowerBound)
            let v = (axis.position(point.y) - axis.range.lowerBound) / (axis.range.upperBound - axis.range.lowerBound)
            return (Double(plot.left) + u * Double(plot.right - plot.left), Double(plot.bottom) - v * Double(plot.bottom - plot.top))
        }
        // Grid lines and ticks.
        for tick in axis.ticks {
            let y = Int(pixel((stepRange.lowerBound, axis.isLogarithmic ? pow(10, tick.position) : tick.position)).y.rounded())
            line(from: (plot.left + 1, y), to: (plot.right - 1, y), .gridLine)
            line(from: (plot.left - 4, y), to: (plot.left, y), .axis)
            text(tick.label, x: Double(plot.left - 7), centeredOn: Double(y), size: 10.5, anchor: .right, .axis)
        }
        let (stepTicks, stepSpacing) = niceTicks(stepRange, target: max(2, (plot.right - plot.left) / 80))
        for step in stepTicks where step >= 0 || stepRange.lowerBound < 0 {
            let x = Int(pixel((step, 1)).x.rounded())
            line(from: (x, plot.top + 1), to: (x, plot.bottom - 1), .gridLine)
            line(from: (x, plot.bottom), to: (x, plot.bottom + 4), .axis)
            text(tickLabel(step, spacing: stepSpacing), x: Double(x), baseline: Double(plot.bottom + 18), size: 10.5, anchor: .center, .axis)
        }
        text(xLabel, x: Double(plot.left + plot.right) / 2, baseline: Double(plot.bottom + 36), size: 11, anchor: .center, .axis)
        strokeRectangle(x: Double(plot.left), y: Double(plot.top), width: Double(plot.right - plot.left), height: Double(plot.bottom - plot.top), .axis)
        // The series, clipped to the plot.
        clip(x: Double(plot.left), y: Double(plot.top), width: Double(plot.right - plot.left), height: Double(plot.bottom - plot.top))
        for (index, one) in series.enumerated() {
            let color = Color.cycle[index % Color.cycle.count]
            // A value that is not finite breaks the line.
            var run: [(x: Double, y: Double)] = []
            for point in one.points {
                if point.y.isFinite && (!axis.isLogarithmic || point.y > 0) { run.append(pixel(point)) } else {
                    polyline(run, color)
                    run = []
                }
            }
            polyline(run, color)
            if one.style == .points {
                for point in one.points where point.y.isFinite { let at = pixel(point); marker(x: at.x, y: at.y, radius: 4, color) }
            }
        }
        unclip()
        // A single value is also written beside its mark.
        for (index, one) in series.enumerated() {
            let finite = one.points.filter { $0.y.isFinite }
            guard finite.count == 1 else { continue }
            let at = pixel(finite[0]), onRight = at.x > Double(plot.left + plot.right) / 2
            text(format(finite[0].y), x: at.x + (onRight ? -8 : 8), baseline: at.y - 7, size: 11, anchor: onRight ? .right : .left,
                 Color.cycle[index % Color.cycle.count])
        }
    }

    static let legendSize = 11.0, legendSample = 18.0, legendSpacing = 16.0

    /// The width of one legend entry: a short line in the series' color, then its name.
    func legendWidth(_ series: ChartSeries) -> Double { Self.legendSample + 5 + textWidth(series.name, size: Self.legendSize) }

    /// The legend's rows: entries (each with its index in the panel, which gives its color) filled into rows `width` wide.
    func legendLayout(_ series: [ChartSeries], width: Double) -> [[(index: Int, series: ChartSeries)]] {
        var rows: [[(index: Int, series: ChartSeries)]] = [[]], used = 0.0
        for (index, one) in series.enumerated() {
            let needed = legendWidth(one) + (rows[rows.count - 1].isEmpty ? 0 : Self.legendSpacing)
            if used + needed > width && !rows[rows.count - 1].isEmpty {
                rows.append([])
                used = 0
            }
            used += rows[rows.count - 1].isEmpty ? legendWidth(one) : needed
            rows[rows.count - 1].append((index, one))
        }
        return rows
    }

    /// One row of legend entries, centred on `centre`.
    func drawLegend(_ entries: [(index: Int, series: ChartSeries)], centre: Double, baseline: Double) {
        let widths = entries.map { legendWidth($0.series) }
        var x = centre - (widths.reduce(0, +) + Self.legendSpacing * Double(entries.count - 1)) / 2
        for (position, entry) in entries.enumerated() {
            let color = Color.cycle[entry.index % Color.cycle.count], y = baseline - 0.36 * Self.legendSize
            polyline([(x, y), (x + Self.legendSample, y)], color, lineWidth: 2)
            if entry.series.style == .points { marker(x: x + Self.legendSample / 2, y: y, radius: 3, color) }
            text(entry.series.name, x: x + Self.legendSample + 5, baseline: baseline, size: Self.legendSize)
            x += widths[position] + Self.legendSpacing
        }
    }
}
