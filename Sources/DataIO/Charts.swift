// Training curves as a picture: one panel per series (value against step), each with its name, the
// value range and the step range written in a small bitmap font, drawn into an RGB `Image8`.

import Foundation

/// A named series of (step, value) points.
public struct ChartSeries: Sendable {
    public let name: String
    public let points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }
}

/// Stacked line charts of `series`, one panel each, `width` pixels wide.
public func lineCharts(_ series: [ChartSeries], width: Int = 640, panelHeight: Int = 150) -> Image8 {
    let panels = series.filter { !$0.points.isEmpty }
    var canvas = Canvas(width: width, height: max(1, panels.count) * panelHeight)
    for (index, panel) in panels.enumerated() {
        canvas.drawPanel(panel, top: index * panelHeight, height: panelHeight)
    }
    return Image8(width: canvas.width, height: canvas.height, channels: 3, pixels: canvas.pixels)
}

/// An RGB drawing surface.
struct Canvas {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    mutating func set(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
        guard (0..<width).contains(x), (0..<height).contains(y) else { return }
        let offset = (y * width + x) * 3
        (pixels[offset], pixels[offset + 1], pixels[offset + 2]) = color
    }

    /// Bresenham's line from (x0, y0) to (x1, y1).
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: (UInt8, UInt8, UInt8)) {
        var (x, y) = (x0, y0)
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var error = dx + dy
        while true {
            set(x, y, color)
            if x == x1 && y == y1 { return }
            let doubled = 2 * error
            if doubled >= dy { error += dy; x += sx }
            if doubled <= dx { error += dx; y += sy }
        }
    }

    /// Text in the 5x7 font, top-left at (x, y), each font pixel drawn as a `scale` x `scale` block (a character is
    /// `6 * scale` pixels wide with its spacing); characters without a glyph are skipped.
    mutating func text(_ string: String, x: Int, y: Int, _ color: (UInt8, UInt8, UInt8) = (40, 40, 40), scale: Int = 1) {
        for (index, character) in string.lowercased().enumerated() {
            guard let rows = glyphs[character] else { continue }
            for (row, bits) in rows.enumerated() {
                for column in 0..<5 where bits & (1 << (4 - column)) != 0 {
                    for dy in 0..<scale { for dx in 0..<scale { set(x + (index * 6 + column) * scale + dx, y + row * scale + dy, color) } }
                }
            }
        }
    }

    mutating func drawPanel(_ series: ChartSeries, top: Int, height: Int) {
        let (left, right, plotTop, plotBottom) = (60, width - 12, top + 16, top + height - 18)
        let xs = series.points.map(\.x), ys = series.points.filter { $0.y.isFinite }.map(\.y)
        let (xMin, xMax) = (xs.min()!, xs.max()!)
        var (yMin, yMax) = (ys.min() ?? 0, ys.max() ?? 1)
        if yMax - yMin < 1e-12 * max(1, abs(yMax)) { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
        text(series.name + " (last " + format(series.points.last!.y) + ")", x: left, y: top + 4, (20, 20, 20))
        for (a, b) in [((left, plotTop), (right, plotTop)), ((left, plotBottom), (right, plotBottom)),
                       ((left, plotTop), (left, plotBottom)), ((right, plotTop), (right, plotBottom))] {
            line(a.0, a.1, b.0, b.1, (190, 190, 190))
        }
        text(format(yMax), x: 2, y: plotTop)
        text(format(yMin), x: 2, y: plotBottom - 7)
        text(format(xMin), x: left, y: plotBottom + 4)
        let lastLabel = format(xMax)
        text(lastLabel, x: right - lastLabel.count * 6, y: plotBottom + 4)
        func position(_ point: (x: Double, y: Double)) -> (Int, Int) {
            let u = xMax > xMin ? (point.x - xMin) / (xMax - xMin) : 0.5
            let v = (point.y - yMin) / (yMax - yMin)
            return (left + Int((u * Double(right - left)).rounded()), plotBottom - Int((v * Double(plotBottom - plotTop)).rounded()))
        }
        var previous: (Int, Int)?
        let marked = series.points.count <= 50
        for point in series.points where point.y.isFinite {
            let current = position(point)
            if let previous { line(previous.0, previous.1, current.0, current.1, (31, 100, 200)) }
            if marked { for dy in -1...1 { for dx in -1...1 { set(current.0 + dx, current.1 + dy, (31, 100, 200)) } } }
            previous = current
        }
    }
}

/// Compact numbers for axis labels.
func format(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e7 { return String(Int(value)) }
    return String(format: "%.4g", value)
}

/// A 5x7 font: each glyph is 7 rows of 5 bits (high bit on the left).
let glyphs: [Character: [UInt8]] = [
    "0": [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
    "1": [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
    "2": [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
    "3": [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
    "4": [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
    "5": [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
    "6": [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
    "7": [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
    "8": [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
    "9": [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
    ".": [0, 0, 0, 0, 0, 0b01100, 0b01100],
    "-": [0, 0, 0, 0b11111, 0, 0, 0],
    "+": [0, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0],
    ":": [0, 0b01100, 0b01100, 0, 0b01100, 0b01100, 0],
    "_": [0, 0, 0, 0, 0, 0, 0b11111],
    "(": [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010],
    ")": [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000],
    ",": [0, 0, 0, 0, 0b01100, 0b00100, 0b01000],
    "/": [0b00001, 0b00010, 0b00010, 0b00100, 0b01000, 0b01000, 0b10000],
    "a": [0, 0, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111],
    "b": [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110],
    "c": [0, 0, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110],
    "d": [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111],
    "e": [0, 0, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110],
    "f": [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000],
    "g": [0, 0, 0b01111, 0b10001, 0b01111, 0b00001, 0b01110],  // starts at the x-height, so that it does not read as 9
    "h": [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
    "i": [0b00100, 0, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110],
    "j": [0b00010, 0, 0b00110, 0b00010, 0b00010, 0b10010, 0b01100],
    "k": [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010],
    "l": [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
    "m": [0, 0, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001],
    "n": [0, 0, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
    "o": [0, 0, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110],
    "p": [0, 0, 0b11110, 0b10001, 0b11110, 0b10000, 0b10000],
    "q": [0, 0, 0b01101, 0b10011, 0b01111, 0b00001, 0b00001],
    "r": [0, 0, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000],
    "s": [0, 0, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110],
    "t": [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110],
    "u": [0, 0, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101],
    "v": [0, 0, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100],
    "w": [0, 0, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010],
    "x": [0, 0, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001],
    "y": [0, 0, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
    "z": [0, 0, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111],
    " ": [0, 0, 0, 0, 0, 0, 0],
    "=": [0, 0, 0b11111, 0, 0b11111, 0, 0],
    "*": [0, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0],
]
