import CZlib

/// Minimal PNG writer (8-bit RGB, no interlace), compressed with zlib.
package enum PNG {
    package static func encodeRGB(width: Int, height: Int, pixels: [UInt8]) throws -> [UInt8] {
        precondition(pixels.count == width * height * 3)
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width * 3 + 1))
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: pixels[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var destLen = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(destLen))
        let rc = compressed.withUnsafeMutableBufferPointer { dst in
            raw.withUnsafeBufferPointer { src in compress2(dst.baseAddress, &destLen, src.baseAddress, uLong(raw.count), 6) }
        }
        guard rc == Z_OK else { throw PatchRNNError("PNG: zlib compression failed (\(rc))") }
        compressed.removeSubrange(Int(destLen)...)

        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            out += be32(UInt32(data.count))
            let body = Array(type.utf8) + data
            out += body
            let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            out += be32(UInt32(crc))
        }
        chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, 2, 0, 0, 0])
        chunk("IDAT", compressed)
        chunk("IEND", [])
        return out
    }

    private static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}

/// A 10x10 grid of digits (row = class), each image scaled up, with a faint red line at the
/// top/bottom boundary of every image when `markBoundary` is set.
package func digitGridPNG(images: [[Float]], columns: Int, scale: Int = 2, markBoundary: Bool) throws -> [UInt8] {
    let side = Patches.imageSide, gap = 2
    let rows = (images.count + columns - 1) / columns
    let cell = side * scale + gap
    let width = columns * cell + gap, height = rows * cell + gap
    Memory.checkAvailable(bytes: 3 * width * height * 3, for: "a \(width)x\(height) image")  // pixels, filtered rows, compressed
    var px = [UInt8](repeating: 40, count: width * height * 3)  // dark grey background
    for (n, image) in images.enumerated() {
        let ox = gap + (n % columns) * cell, oy = gap + (n / columns) * cell
        for y in 0..<(side * scale) {
            for x in 0..<(side * scale) {
                let v = image[(y / scale) * side + x / scale]
                let g = UInt8(max(0, min(255, (v * 255).rounded())))
                let o = ((oy + y) * width + ox + x) * 3
                px[o] = g
                px[o + 1] = g
                px[o + 2] = g
                if markBoundary && y == (side / 2) * scale {
                    // Blend 35% red over the pixel: visible but faint.
                    px[o] = UInt8(min(255, Int(Double(g) * 0.65 + 255 * 0.35)))
                    px[o + 1] = UInt8(Double(g) * 0.65)
                    px[o + 2] = UInt8(Double(g) * 0.65)
                }
            }
        }
    }
    return try PNG.encodeRGB(width: width, height: height, pixels: px)
}
