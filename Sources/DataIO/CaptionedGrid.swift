// Grids of images for people, drawn by Cairo: each 8-bit image scaled up by nearest neighbour (at least 3x) inside a
// thin gray separator, with an optional title above the grid, captions above each image or above each column (the
// course's interpolation strip titles each image with its mixing weight), and captions left of each row (class names).

/// Images `[count * height * width]` (8-bit gray, row-major, image after image) in a grid of `columns`, each pixel
/// drawn as a `scale` x `scale` block (`scale` >= 3), with `title` above the grid, `captions[i]` centred above image i,
/// `columnCaptions[c]` above column c, and `rowCaptions[r]` left of row r. Columns listed in `widerGapAfterColumns`
/// are followed by a wider gap (to set some images apart).
public func captionedGrid(_ pixels: [UInt8], imageHeight: Int, imageWidth: Int, columns: Int, scale: Int = 3, title: String? = nil,
                          captions: [String] = [], columnCaptions: [String] = [], rowCaptions: [String] = [],
                          widerGapAfterColumns: Set<Int> = []) -> Image8 {
    let count = pixels.count / max(imageHeight * imageWidth, 1)
    precondition(count * imageHeight * imageWidth == pixels.count && count > 0, "captionedGrid: \(pixels.count) bytes are not whole images")
    precondition(scale >= 3, "captionedGrid: scale \(scale); images are drawn at least 3x")
    precondition(captions.isEmpty || captions.count == count, "captionedGrid: \(captions.count) captions for \(count) images")
    let columns = max(1, min(columns, count)), rows = (count + columns - 1) / columns
    precondition(columnCaptions.isEmpty || columnCaptions.count == columns, "captionedGrid: \(columnCaptions.count) column captions for \(columns) columns")
    precondition(rowCaptions.isEmpty || rowCaptions.count == rows, "captionedGrid: \(rowCaptions.count) row captions for \(rows) rows")
    let layout = GridLayout(columns: columns, rows: rows, cellWidth: imageWidth * scale, cellHeight: imageHeight * scale, title: title,
                            hasCaptions: !captions.isEmpty, hasColumnCaptions: !columnCaptions.isEmpty, rowCaptions: rowCaptions,
                            widerGapAfterColumns: widerGapAfterColumns)
    let canvas = CairoCanvas(width: layout.width, height: layout.height)
    if let title {
        canvas.text(title, x: Double(layout.width) / 2, baseline: Double(GridLayout.margin) + GridLayout.titleSize, size: GridLayout.titleSize, anchor: .center)
    }
    for (column, caption) in columnCaptions.enumerated() {
        canvas.captionText(caption, centre: Double(layout.left(column: column)) + Double(layout.cellWidth) / 2,
                           baseline: Double(layout.top(row: 0) - GridLayout.captionGap), width: layout.cellWidth + GridLayout.gap)
    }
    for (row, caption) in rowCaptions.enumerated() {
        canvas.text(caption, x: Double(layout.left(column: 0) - GridLayout.rowCaptionGap),
                    centeredOn: Double(layout.top(row: row)) + Double(layout.cellHeight) / 2, size: GridLayout.captionSize, anchor: .right)
    }
    let imageSize = imageHeight * imageWidth
    for index in 0..<count {
        let (row, column) = (index / columns, index % columns)
        let (left, top) = (layout.left(column: column), layout.top(row: row))
        if !captions.isEmpty {
            canvas.captionText(captions[index], centre: Double(left) + Double(layout.cellWidth) / 2,
                               baseline: Double(top - GridLayout.captionGap), width: layout.cellWidth + GridLayout.gap)
        }
        canvas.strokeRectangle(x: Double(left), y: Double(top), width: Double(layout.cellWidth), height: Double(layout.cellHeight), .separator)
        canvas.grayImage(pixels[(index * imageSize)..<((index + 1) * imageSize)], width: imageWidth, height: imageHeight, x: left, y: top, scale: scale)
    }
    return canvas.image()
}

/// Where a grid's parts go, in pixels.
struct GridLayout {
    static let margin = 12, gap = 5, widerGap = 28, captionGap = 5, rowCaptionGap = 8
    static let titleSize = 15.0, captionSize = 12.0
    let cellWidth: Int, cellHeight: Int
    let width: Int, height: Int
    private let lefts: [Int]
    private let firstTop: Int, rowPitch: Int

    init(columns: Int, rows: Int, cellWidth: Int, cellHeight: Int, title: String?, hasCaptions: Bool, hasColumnCaptions: Bool,
         rowCaptions: [String], widerGapAfterColumns: Set<Int>) {
        self.cellWidth = cellWidth
        self.cellHeight = cellHeight
        let measure = CairoCanvas(width: 1, height: 1)
        let rowCaptionWidth = rowCaptions.isEmpty ? 0 : Int(rowCaptions.map { measure.textWidth($0, size: Self.captionSize) }.max()!.rounded(.up)) + Self.rowCaptionGap
        let titleHeight = title == nil ? 0 : Int(Self.titleSize * 1.7)
        let captionHeight = Int(Self.captionSize * 1.3) + Self.captionGap
        var x = Self.margin + rowCaptionWidth, lefts: [Int] = []
        for column in 0..<columns {
            lefts.append(x)
            x += cellWidth + (widerGapAfterColumns.contains(column) ? Self.widerGap : Self.gap)
        }
        let gridWidth = x - Self.gap + Self.margin
        let titleWidth = title.map { Int(measure.textWidth($0, size: Self.titleSize).rounded(.up)) + 2 * Self.margin } ?? 0
        let width = max(gridWidth, titleWidth)
        self.width = width
        // A title wider than the grid centres the grid under it.
        self.lefts = lefts.map { $0 + (width - gridWidth) / 2 }
        firstTop = Self.margin + titleHeight + (hasColumnCaptions || hasCaptions ? captionHeight : 0)
        rowPitch = cellHeight + Self.gap + (hasCaptions ? captionHeight : 0)
        height = firstTop + rows * rowPitch - Self.gap - (hasCaptions ? captionHeight : 0) + Self.margin
    }

    func left(column: Int) -> Int { lefts[column] }
    func top(row: Int) -> Int { firstTop + row * rowPitch }
}

extension CairoCanvas {
    /// A caption centred on `centre`, shrunk to fit `width` pixels when it is wider.
    func captionText(_ caption: String, centre: Double, baseline: Double, width: Int) {
        let natural = textWidth(caption, size: GridLayout.captionSize)
        let size = natural > Double(width - 2) ? GridLayout.captionSize * Double(width - 2) / natural : GridLayout.captionSize
        text(caption, x: centre, baseline: baseline, size: size, anchor: .center)
    }
}
