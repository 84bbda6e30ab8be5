// A drawing surface over Cairo (`libcairo2-dev`): anti-aliased lines, markers and text in DejaVu Sans (found
// through fontconfig), gray images scaled by nearest neighbour, read back as an RGB `Image8`. Coordinates are
// pixels from the top-left corner; a 1-pixel line at integer coordinates is drawn on the pixel centres.

import CCairo

/// An RGB color, each component in 0...1.
struct Color: Sendable, Equatable {
    let red: Double, green: Double, blue: Double

    init(red: Double, green: Double, blue: Double) {
        (self.red, self.green, self.blue) = (red, green, blue)
    }

    /// A color from 0xRRGGBB.
    init(hex: UInt32) {
        self.init(red: Double(hex >> 16 & 0xFF) / 255, green: Double(hex >> 8 & 0xFF) / 255, blue: Double(hex & 0xFF) / 255)
    }

    static let white = Color(hex: 0xFFFFFF)
    static let text = Color(hex: 0x1A1A1A)
    static let axis = Color(hex: 0x555555)
    static let gridLine = Color(hex: 0xE3E3E3)
    static let separator = Color(hex: 0xB0B0B0)
    /// matplotlib's tab10 cycle, for series that share a panel.
    static let cycle: [Color] = [0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD, 0x8C564B, 0xE377C2, 0x7F7F7F].map { Color(hex: $0) }
}

/// Where a text's x coordinate is: its left end, its centre or its right end.
enum TextAnchor { case left, center, right }

/// A white RGB surface of `width` x `height` pixels and its Cairo context.
final class CairoCanvas {
    let width: Int
    let height: Int
    private let surface: OpaquePointer
    private let context: OpaquePointer

    init(width: Int, height: Int) {
        // Cairo's image surfaces hold at most 32767 pixels a side.
        precondition((1...32767).contains(width) && (1...32767).contains(height), "CairoCanvas: \(width)x\(height) pixels is outside 1...32767 a side")
        self.width = width
        self.height = height
        surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height))
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else { fatalError("CairoCanvas: Cairo cannot make a \(width)x\(height) surface") }
        context = cairo_create(surface)
        fillRectangle(x: 0, y: 0, width: Double(width), height: Double(height), .white)
    }

    deinit {
        cairo_destroy(context)
        cairo_surface_destroy(surface)
    }

    // MARK: - Shapes

    func fillRectangle(x: Double, y: Double, width: Double, height: Double, _ color: Color) {
        setColor(color)
        cairo_rectangle(context, x, y, width, height)
        cairo_fill(context)
    }

    /// A rectangle's outline, `lineWidth` wide, centred on the edges of the pixels x..<x+width, y..<y+height.
    func strokeRectangle(x: Double, y: Double, width: Double, height: Double, _ color: Color, lineWidth: Double = 1) {
        setColor(color)
        cairo_set_line_width(context, lineWidth)
        cairo_rectangle(context, x - lineWidth / 2, y - lineWidth / 2, width + lineWidth, height + lineWidth)
        cairo_stroke(context)
    }

    /// A polyline through `points`, anti-aliased, with round joins.
    func polyline(_ points: [(x: Double, y: Double)], _ color: Color, lineWidth: Double = 1.5) {
        guard let first = points.first else { return }
        setColor(color)
        cairo_set_line_width(context, lineWidth)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_ROUND)
        cairo_move_to(context, first.x, first.y)
        for point in points.dropFirst() { cairo_line_to(context, point.x, point.y) }
        cairo_stroke(context)
    }

    /// A straight line on pixel centres (crisp when horizontal or vertical).
    func line(from start: (x: Int, y: Int), to end: (x: Int, y: Int), _ color: Color, lineWidth: Double = 1) {
        setColor(color)
        cairo_set_line_width(context, lineWidth)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_SQUARE)
        cairo_move_to(context, Double(start.x) + 0.5, Double(start.y) + 0.5)
        cairo_line_to(context, Double(end.x) + 0.5, Double(end.y) + 0.5)
        cairo_stroke(context)
    }

    /// A filled disc with a white rim, as matplotlib marks points.
    func marker(x: Double, y: Double, radius: Double, _ color: Color) {
        cairo_new_sub_path(context)
        cairo_arc(context, x, y, radius, 0, 2 * Double.pi)
        setColor(color)
        cairo_fill_preserve(context)
        setColor(.white)
        cairo_set_line_width(context, 1)
        cairo_stroke(context)
    }

    /// Restricts drawing to a rectangle until `unclip()`.
    func clip(x: Double, y: Double, width: Double, height: Double) {
        cairo_save(context)
        cairo_rectangle(context, x, y, width, height)
        cairo_clip(context)
    }

    func unclip() { cairo_restore(context) }

    // MARK: - Text

    /// The width in pixels of `string` at `size` pixels.
    func textWidth(_ string: String, size: Double, bold: Bool = false) -> Double {
        selectFont(size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(context, string, &extents)
        return extents.x_advance
    }

    /// `string` at `size` pixels, with its baseline at `baseline`.
    func text(_ string: String, x: Double, baseline: Double, size: Double, anchor: TextAnchor = .left, bold: Bool = false,
              _ color: Color = .text) {
        let width = textWidth(string, size: size, bold: bold)
        let left = switch anchor {
        case .left: x
        case .center: x - width / 2
        case .right: x - width
        }
        setColor(color)
        cairo_move_to(context, left.rounded(), baseline.rounded())
        cairo_show_text(context, string)
        cairo_new_path(context)
    }

    /// `string` whose capital letters are vertically centred on `y`.
    func text(_ string: String, x: Double, centeredOn y: Double, size: Double, anchor: TextAnchor = .left, bold: Bool = false,
              _ color: Color = .text) {
        text(string, x: x, baseline: y + 0.36 * size, size: size, anchor: anchor, bold: bold, color)
    }

    private func selectFont(size: Double, bold: Bool) {
        cairo_select_font_face(context, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(context, size)
    }

    // MARK: - Images

    /// A gray image `[height * width]` (row-major) with its top-left pixel at (x, y), each pixel a `scale` x `scale`
    /// block (nearest neighbour: the block holds the pixel's exact value).
    func grayImage(_ pixels: ArraySlice<UInt8>, width imageWidth: Int, height imageHeight: Int, x: Int, y: Int, scale: Int) {
        precondition(pixels.count == imageWidth * imageHeight, "grayImage: \(pixels.count) bytes for \(imageWidth)x\(imageHeight)")
        let image = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(imageWidth), Int32(imageHeight))
        defer { cairo_surface_destroy(image) }
        cairo_surface_flush(image)
        let stride = Int(cairo_image_surface_get_stride(image)) / 4
        let data = UnsafeMutableRawPointer(cairo_image_surface_get_data(image)!).assumingMemoryBound(to: UInt32.self)
        var source = pixels.startIndex
        for row in 0..<imageHeight {
            for column in 0..<imageWidth {
                let value = UInt32(pixels[source])
                data[row * stride + column] = value << 16 | value << 8 | value
                source += 1
            }
        }
        cairo_surface_mark_dirty(image)
        cairo_save(context)
        cairo_translate(context, Double(x), Double(y))
        cairo_scale(context, Double(scale), Double(scale))
        cairo_set_source_surface(context, image, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(context), CAIRO_FILTER_NEAREST)
        cairo_rectangle(context, 0, 0, Double(imageWidth), Double(imageHeight))
        cairo_fill(context)
        cairo_restore(context)
    }

    // MARK: - Result

    /// The surface as 8-bit RGB.
    func image() -> Image8 {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface)) / 4
        let data = UnsafeMutableRawPointer(cairo_image_surface_get_data(surface)!).assumingMemoryBound(to: UInt32.self)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            for column in 0..<width {
                let value = data[row * stride + column], offset = (row * width + column) * 3
                pixels[offset] = UInt8(value >> 16 & 0xFF)
                pixels[offset + 1] = UInt8(value >> 8 & 0xFF)
                pixels[offset + 2] = UInt8(value & 0xFF)
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: pixels)
    }

    private func setColor(_ color: Color) { cairo_set_source_rgb(context, color.red, color.green, color.blue) }
}
