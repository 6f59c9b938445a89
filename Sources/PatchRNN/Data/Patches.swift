/// Cutting a 28x28 image into 16 patches of 7x7: row-major over the 4x4 patch grid (patch k
/// covers rows 7(k/4)..+7, cols 7(k%4)..+7), each patch flattened row-major to 49 floats.
/// Patches 0-7 (1-8 in the design's numbering) are the top half, 8-15 the bottom half.
public enum Patches {
    public static let side = 7
    public static let grid = 4
    public static let count = 16
    public static let patchSize = 49
    public static let imageSide = 28
    public static let topHalf = 8

    /// image[28*28] -> sequence[16*49]
    public static func fromImage(_ image: UnsafePointer<Float>, into seq: UnsafeMutablePointer<Float>) {
        for k in 0..<count {
            let r0 = side * (k / grid), c0 = side * (k % grid)
            for r in 0..<side {
                for c in 0..<side { seq[k * patchSize + r * side + c] = image[(r0 + r) * imageSide + c0 + c] }
            }
        }
    }

    /// sequence[16*49] -> image[28*28]
    public static func toImage(_ seq: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        for k in 0..<count {
            let r0 = side * (k / grid), c0 = side * (k % grid)
            for r in 0..<side {
                for c in 0..<side { image[(r0 + r) * imageSide + c0 + c] = seq[k * patchSize + r * side + c] }
            }
        }
    }

    public static func fromImage(_ image: [Float]) -> [Float] {
        precondition(image.count == imageSide * imageSide)
        var seq = [Float](repeating: 0, count: count * patchSize)
        image.withUnsafeBufferPointer { i in seq.withUnsafeMutableBufferPointer { fromImage(i.baseAddress!, into: $0.baseAddress!) } }
        return seq
    }

    public static func toImage(_ seq: [Float]) -> [Float] {
        precondition(seq.count == count * patchSize)
        var image = [Float](repeating: 0, count: imageSide * imageSide)
        seq.withUnsafeBufferPointer { s in image.withUnsafeMutableBufferPointer { toImage(s.baseAddress!, into: $0.baseAddress!) } }
        return image
    }
}

/// A set of digit images as patch sequences ([count x 16 x 49] floats in [0, 1]) with labels.
public final class PatchSet: @unchecked Sendable {
    public let count: Int
    public let data: FloatBuffer
    public let labels: [UInt8]

    public static let sequenceLength = Patches.count * Patches.patchSize

    /// From raw 28x28 u8 images, scaled to [0, 1]: the images `records` (all when nil), in
    /// that order, each cut into 16 patches of 7x7.
    /// - Parameters:
    ///   - images: 784 bytes per image, row-major.
    ///   - labels: One class (0-9) per image.
    ///   - records: Which images to keep, in order (nil: all).
    public init(images: [UInt8], labels: [UInt8], records: [Int]? = nil) {
        precondition(images.count == labels.count * 784)
        let records = records ?? Array(0..<labels.count)
        count = records.count
        self.labels = records.map { labels[$0] }
        data = FloatBuffer(count: count * Self.sequenceLength, what: "\(count) images as patch sequences")
        var image = [Float](repeating: 0, count: 784)
        for (row, i) in records.enumerated() {
            for p in 0..<784 { image[p] = Float(images[i * 784 + p]) / 255 }
            image.withUnsafeBufferPointer { Patches.fromImage($0.baseAddress!, into: data.pointer + row * Self.sequenceLength) }
        }
    }

    /// From already-made sequences (tests, subsets).
    public init(sequences: FloatBuffer, labels: [UInt8]) {
        precondition(sequences.count == labels.count * Self.sequenceLength)
        count = labels.count
        self.labels = labels
        data = sequences
    }

    @inline(__always)
    public func sequence(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(data.pointer + i * Self.sequenceLength) }

    /// A new set holding the sequences `indices`, in that order.
    public func subset(_ indices: [Int]) -> PatchSet {
        let buf = FloatBuffer(count: indices.count * Self.sequenceLength, what: "\(indices.count) images as patch sequences")
        for (j, i) in indices.enumerated() {
            (buf.pointer + j * Self.sequenceLength).update(from: sequence(i), count: Self.sequenceLength)
        }
        return PatchSet(sequences: buf, labels: indices.map { labels[$0] })
    }

    /// Indices of every sequence of digit `d`, in data-set order.
    public func indices(ofClass d: Int) -> [Int] {
        (0..<count).filter { Int(labels[$0]) == d }
    }
}
