// Row and column helpers of the model's step: SIMD bodies, scalar tails, a fixed summation
// order (so results do not depend on how work is split).

/// y[r, j] += bias[j] for every row.
@inline(__always)
public func addBiasRows(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
    for r in 0..<rows { addInPlace(y + r * cols, bias, count: cols) }
}

/// dst[j] = sum over rows of src[r, j], rows added in order (with `accumulate`, added to
/// what dst holds: a sum over several groups of rows, continued in order).
@inline(__always)
public func columnSums(
    _ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>,
    accumulate: Bool = false
) {
    if !accumulate { dst.update(repeating: 0, count: cols) }
    for r in 0..<rows { addInPlace(dst, src + r * cols, count: cols) }
}

/// Sum of (a - b)^2 over `rowCount` rows of `cols`; each row in Float, rows added in Double
/// (to `addingTo`: a sum over several groups of rows, continued in order).
@inline(__always)
public func sumSquaredError(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rowCount: Int, cols: Int,
    addingTo initial: Double = 0
) -> Double {
    var total = initial
    for r in 0..<rowCount {
        let pa = a + r * cols, pb = b + r * cols
        var acc = V8()
        var j = 0
        while j + 8 <= cols {
            let d = load8(pa + j) - load8(pb + j)
            acc.addProduct(d, d)
            j += 8
        }
        var s = acc.sum()
        while j < cols {
            let d = pa[j] - pb[j]
            s += d * d
            j += 1
        }
        total += Double(s)
    }
    return total
}

/// The gradient of scale x sum (y - target)^2: dy = 2 scale (y - target), `count` floats.
@inline(__always)
public func squaredErrorGradient(
    _ y: UnsafePointer<Float>, _ target: UnsafePointer<Float>, count: Int, scale: Float,
    into dy: UnsafeMutablePointer<Float>
) {
    let twoScale = V8(repeating: 2 * scale)
    var i = 0
    while i + 8 <= count {
        store8(twoScale * (load8(y + i) - load8(target + i)), dy + i)
        i += 8
    }
    while i < count {
        dy[i] = 2 * scale * (y[i] - target[i])
        i += 1
    }
}
