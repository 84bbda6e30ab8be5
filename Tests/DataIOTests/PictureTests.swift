import Foundation
import Testing
@testable import DataIO

/// Pixels of an RGB image.
struct RGBView {
    let image: Image8
    func pixel(_ x: Int, _ y: Int) -> (Int, Int, Int) {
        let offset = (y * image.width + x) * 3
        return (Int(image.pixels[offset]), Int(image.pixels[offset + 1]), Int(image.pixels[offset + 2]))
    }
    /// Pixels darker than `level` (text, axes) in a rectangle.
    func darkPixels(x: Range<Int>, y: Range<Int>, below level: Int = 128) -> Int {
        y.reduce(0) { count, row in count + x.filter { column in pixel(column, row).0 < level && pixel(column, row).1 < level }.count }
    }
    /// Pixels whose color leans to one of the first three colors of the cycle (blue, orange, green), even where an
    /// anti-aliased line covers them only in part.
    func pixels(_ hue: Hue, x: Range<Int>, y: Range<Int>) -> [(x: Int, y: Int)] {
        y.flatMap { row in
            x.compactMap { column -> (x: Int, y: Int)? in
                let (r, g, b) = pixel(column, row)
                let leans = switch hue {
                case .blue: b - r > 50 && b - g > 20
                case .orange: r - b > 80 && r - g > 40
                case .green: g - r > 40 && g - b > 40
                }
                return leans ? (column, row) : nil
            }
        }
    }

    enum Hue { case blue, orange, green }
}

@Suite struct ChartTests {
    /// Three panels of 480 x 300 (two to a row), the empty one left out: titles, tick labels, frame, curves, a legend.
    @Test func panelsHaveAxesTicksTitlesAndLegends() throws {
        let rising = ChartSeries(name: "loss", points: (1...100).map { (Double($0), 2 + sin(Double($0) / 10)) })
        let losses = ChartPanel(title: "losses", series: [
            ChartSeries(name: "D real", points: (1...100).map { (Double($0), 0.7) }),
            ChartSeries(name: "D fake", points: (1...100).map { (Double($0), 0.5) }),
            ChartSeries(name: "G", points: (1...100).map { (Double($0), 1.5) })])
        let single = ChartPanel(title: "FID", series: [ChartSeries(name: "eval fid", points: [(40, 12.5)], style: .points)])
        let image = drawCharts([ChartPanel(title: "loss", series: [rising]), losses, ChartPanel(title: "empty", series: []), single])
        #expect(image.width == 960 && image.height == 600 && image.channels == 3)
        #expect(try Image8.decodePNG(image.pngData()) == image)
        let view = RGBView(image: image)
        // Panel 1 (0, 0): plot from x 64 to 462, y 34 to 254. The frame is drawn in the axis gray.
        #expect(view.pixel(63, 150) == (0x55, 0x55, 0x55) && view.pixel(300, 254) == (0x55, 0x55, 0x55))
        #expect(view.darkPixels(x: 100..<380, y: 6..<24) > 30, "title")
        #expect(view.darkPixels(x: 0..<58, y: 34..<255) > 60, "value tick labels")
        #expect(view.darkPixels(x: 64..<462, y: 258..<274) > 60, "step tick labels")
        #expect(view.darkPixels(x: 240..<290, y: 276..<292) > 10, "step axis label")
        // The curve spans the plot: a blue pixel in nearly every column.
        let columns = Set(view.pixels(.blue, x: 65..<462, y: 35..<254).map(\.x))
        #expect(columns.count > 370)
        // Panel 2 (480, 0): a legend below the title with the three colors; the three lines in the plot.
        for hue in [RGBView.Hue.blue, .orange, .green] {
            #expect(view.pixels(hue, x: 480..<960, y: 28..<44).count > 10, "legend \(hue)")
            #expect(view.pixels(hue, x: 545..<942, y: 53..<254).count > 300, "line \(hue)")
        }
        // Panel 3 (0, 300): the single evaluation is a mark at step 40 of the shared axis 1...100 (padded by 3%), with
        // value ticks around 12.5 and the value written beside it.
        let mark = view.pixels(.blue, x: 65..<462, y: 440..<449)
        let expectedX = 64 + (40 - (1 - 2.97)) / (100 + 2.97 - (1 - 2.97)) * 398
        let markX = Double(mark.map(\.x).reduce(0, +)) / Double(max(mark.count, 1))
        #expect(mark.count >= 20 && abs(markX - expectedX) < 12, "\(mark.count) mark pixels around x \(markX), expected \(expectedX)")
        #expect(view.darkPixels(x: 0..<58, y: 334..<555) > 60, "value tick labels around a single value")
    }

    @Test func valuesSpanningDecadesGetALogarithmicAxis() {
        let falling = ValueAxis(values: [5, 0.5, 0.01])
        #expect(falling.isLogarithmic && falling.ticks.map(\.label) == ["0.01", "0.1", "1"])
        #expect(!ValueAxis(values: [1, 50]).isLogarithmic && !ValueAxis(values: [-1, 500]).isLogarithmic)
        #expect(ValueAxis(values: [1e-6, 1e6]).ticks.map(\.label) == ["1e-6", "0.001", "1", "1000", "1e6"])
        let linear = ValueAxis(values: [0, 100])
        #expect(linear.ticks.map(\.label) == ["0", "20", "40", "60", "80", "100"])
        #expect(ValueAxis(values: [12.5]).ticks.map(\.label) == ["11.5", "12.0", "12.5", "13.0", "13.5"])
        #expect(niceTicks(0...1, target: 4).values == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        #expect(tickLabel(0.25, spacing: 0.05) == "0.25" && tickLabel(3e-5, spacing: 1e-5) == "3e-05")
        #expect(format(1234567) == "1234567" && format(0.000123456) == "0.0001235")
    }
}

@Suite struct CaptionedGridTests {
    /// Two 2x3 images at scale 4 with captions: each image pixel is a 4x4 block inside a gray separator, below its caption.
    @Test func imagesAreScaledNearestNeighbourUnderTheirCaptions() throws {
        let pixels: [UInt8] = [0, 50, 100, 150, 200, 250] + [10, 10, 10, 10, 10, 10]
        let grid = captionedGrid(pixels, imageHeight: 2, imageWidth: 3, columns: 2, scale: 4, title: "a title", captions: ["0.0", "1.0"])
        let layout = GridLayout(columns: 2, rows: 1, cellWidth: 12, cellHeight: 8, title: "a title", hasCaptions: true, hasColumnCaptions: false,
                                rowCaptions: [], widerGapAfterColumns: [])
        #expect(grid.width == layout.width && grid.height == layout.height)
        let view = RGBView(image: grid)
        let (left, top) = (layout.left(column: 0), layout.top(row: 0))
        for (x, y, value) in [(0, 0, 0), (3, 3, 0), (4, 0, 50), (8, 0, 100), (0, 4, 150), (11, 7, 250), (8, 4, 250)] {
            #expect(view.pixel(left + x, top + y) == (value, value, value), "pixel \(x), \(y)")
        }
        #expect(view.pixel(layout.left(column: 1) + 5, top + 5) == (10, 10, 10))
        #expect(view.pixel(left - 1, top + 2) == (0xB0, 0xB0, 0xB0) && view.pixel(left + 12, top + 2) == (0xB0, 0xB0, 0xB0), "separator")
        #expect(view.pixel(left + 14, top + 2) == (255, 255, 255), "white between images")
        #expect(view.darkPixels(x: left..<(left + 12), y: (top - 20)..<(top - 3)) > 5, "caption above the first image")
        #expect(view.darkPixels(x: 0..<grid.width, y: 10..<30) > 20, "title")
        #expect(try Image8.decodePNG(grid.pngData()) == grid)
    }

    @Test func rowsAndColumnsCarryTheirCaptions() {
        let pixels = [UInt8](repeating: 255, count: 4 * 28 * 28)
        let grid = captionedGrid(pixels, imageHeight: 28, imageWidth: 28, columns: 2, columnCaptions: ["a = 0.0", "a = 1.0"],
                                 rowCaptions: ["T-shirt/top", "trouser"])
        let layout = GridLayout(columns: 2, rows: 2, cellWidth: 84, cellHeight: 84, title: nil, hasCaptions: false, hasColumnCaptions: true,
                                rowCaptions: ["T-shirt/top", "trouser"], widerGapAfterColumns: [])
        #expect(grid.width == layout.width && grid.height == layout.height)
        let view = RGBView(image: grid)
        let left = layout.left(column: 0)
        #expect(left > 12 + 60, "room for the row captions")
        for row in 0..<2 {
            let top = layout.top(row: row)
            #expect(view.darkPixels(x: 12..<(left - 4), y: (top + 30)..<(top + 54)) > 20, "row caption \(row)")
        }
        for column in 0..<2 {
            let x = layout.left(column: column)
            #expect(view.darkPixels(x: x..<(x + 84), y: (layout.top(row: 0) - 20)..<(layout.top(row: 0) - 2)) > 20, "column caption \(column)")
        }
        // No caption between the rows: only the images' own white and the separators.
        #expect(view.darkPixels(x: left..<(left + 84), y: (layout.top(row: 1) - 4)..<layout.top(row: 1)) == 0)
    }

    @Test func aWiderGapSetsColumnsApart() {
        let pixels = [UInt8](repeating: 0, count: 3 * 4)
        let plain = captionedGrid(pixels, imageHeight: 2, imageWidth: 2, columns: 3, scale: 3)
        let apart = captionedGrid(pixels, imageHeight: 2, imageWidth: 2, columns: 3, scale: 3, widerGapAfterColumns: [0, 1])
        #expect(plain.width == 12 + 3 * 6 + 2 * 5 + 12 && apart.width == plain.width + 2 * 23 && plain.height == 12 + 6 + 12)
    }
}
