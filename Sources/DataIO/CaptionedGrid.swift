// Grids of images for people: each 8-bit image scaled up (nearest neighbour), separated by white space,
// with an optional title above the grid and a caption above each image (the course's interpolation strip
// titles each image with its mixing weight), written in the 5x7 font at twice its size.

/// Images `[count * height * width]` (8-bit, row-major, image after image) in a grid of `columns`, each pixel
/// drawn as a `scale` x `scale` block, with `title` above the grid and `captions[i]` centred above image i.
/// Columns listed in `widerGapAfterColumns` are followed by a wider gap (to set some images apart).
public func captionedGrid(_ pixels: [UInt8], imageHeight: Int, imageWidth: Int, columns: Int, scale: Int = 3, title: String? = nil,
                          captions: [String] = [], widerGapAfterColumns: Set<Int> = []) -> Image8 {
    let count = pixels.count / max(imageHeight * imageWidth, 1)
    precondition(count * imageHeight * imageWidth == pixels.count && count > 0, "captionedGrid: \(pixels.count) bytes are not whole images")
    precondition(captions.isEmpty || captions.count == count, "captionedGrid: \(captions.count) captions for \(count) images")
    let columns = max(1, min(columns, count)), rows = (count + columns - 1) / columns
    let textScale = 2, lineHeight = 7 * textScale, margin = 12, gap = 6, widerGap = 36
    let (cellWidth, cellHeight) = (imageWidth * scale, imageHeight * scale)
    let captionHeight = captions.isEmpty ? 0 : lineHeight + 6
    let titleHeight = title == nil ? 0 : lineHeight + 12
    // Left edge of each column.
    var lefts: [Int] = [], x = margin
    for column in 0..<columns {
        lefts.append(x)
        x += cellWidth + (widerGapAfterColumns.contains(column) ? widerGap : gap)
    }
    let gridWidth = x - gap + margin
    let titleWidth = (title?.count ?? 0) * 6 * textScale + 2 * margin
    let width = max(gridWidth, titleWidth), height = margin + titleHeight + rows * (captionHeight + cellHeight + gap) - gap + margin
    var canvas = Canvas(width: width, height: height)
    if let title { canvas.text(title, x: (width - title.count * 6 * textScale) / 2, y: margin, (20, 20, 20), scale: textScale) }
    let offset = (width - gridWidth) / 2
    for index in 0..<count {
        let (row, column) = (index / columns, index % columns)
        let top = margin + titleHeight + row * (captionHeight + cellHeight + gap)
        let left = offset + lefts[column]
        if !captions.isEmpty {
            let caption = captions[index], captionWidth = caption.count * 6 * textScale - textScale
            canvas.text(caption, x: left + (cellWidth - captionWidth) / 2, y: top, (20, 20, 20), scale: textScale)
        }
        let base = index * imageHeight * imageWidth
        for y in 0..<cellHeight {
            for x in 0..<cellWidth {
                let value = pixels[base + (y / scale) * imageWidth + x / scale]
                canvas.set(left + x, top + captionHeight + y, (value, value, value))
            }
        }
    }
    return Image8(width: canvas.width, height: canvas.height, channels: 3, pixels: canvas.pixels)
}
