// The inner loop of the optimizer step: sum the shard gradients of a slice in shard order and
// apply Adam to that slice. The library computes the step's coefficients (AdamCoefficients)
// and gives each worker its slice.

/// Per-step constants of torch.optim.Adam's update (foreach=False), in Float as PyTorch uses.
public struct AdamCoefficients: Sendable {
    public var stepSize: Float  // lr / (1 - beta1^t)
    public var biasCorrection2Sqrt: Float  // sqrt(1 - beta2^t)
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public init(stepSize: Float, biasCorrection2Sqrt: Float, beta1: Float, beta2: Float, epsilon: Float) {
        self.stepSize = stepSize
        self.biasCorrection2Sqrt = biasCorrection2Sqrt
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

/// Sums the shard gradients for elements [begin, end) in shard order and applies one Adam
/// update to that slice, exactly as torch.optim.Adam (foreach=False) computes it:
///   m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2
///   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// `begin` and `end` must be multiples of 16 (the parameter layout pads to 64 floats), so
/// every element takes the same path whatever the slicing: results do not depend on the
/// thread count. 16 floats a block: one cache line of each shard buffer per load, which
/// matters when a small default shard makes 16 or more buffers to stream.
///
/// `folded`: the first `folded` shards are already summed, in order, into shard 0's buffer
/// (a worker adds shards into it while they are hot), so the sum continues from there.
public func reduceAndAdamUpdate(
    params: UnsafeMutablePointer<Float>, shardGrads: UnsafePointer<Float>, shards: Int, stride: Int, folded: Int = 1,
    m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
    begin: Int, end: Int, _ c: AdamCoefficients
) {
    let stepSize = V16(repeating: c.stepSize)
    let bc2Sqrt = V16(repeating: c.biasCorrection2Sqrt)
    let oneMinusB1 = V16(repeating: 1 - c.beta1), b2 = V16(repeating: c.beta2)
    let oneMinusB2 = V16(repeating: 1 - c.beta2), eps = V16(repeating: c.epsilon)
    var i = begin
    while i < end {
        var g = load16(shardGrads + i)
        var s = max(folded, 1)
        while s < shards {
            g += load16(shardGrads + s * stride + i)
            s += 1
        }
        var mv = load16(m + i)
        mv = mv + oneMinusB1 * (g - mv)
        let vv = b2 * load16(v + i) + oneMinusB2 * (g * g)
        store16(mv, m + i)
        store16(vv, v + i)
        let denom = vv.squareRoot() / bc2Sqrt + eps
        store16(load16(params + i) - stepSize * (mv / denom), params + i)
        i += 16
    }
}

/// out[i] = sum of the shard gradients shards.lowerBound..<shards.upperBound, in shard
/// order, for i in [begin, end) (multiples of 8); zero for an empty range. A rank's partial
/// sum before MPI_Allreduce.
public func sumShards(
    _ shardGrads: UnsafePointer<Float>, shards: Range<Int>, stride: Int,
    into out: UnsafeMutablePointer<Float>, begin: Int, end: Int
) {
    var i = begin
    while i < end {
        var g = V8(repeating: 0)
        for s in shards { g += load8(shardGrads + s * stride + i) }
        store8(g, out + i)
        i += 8
    }
}

/// dst[i] += src[i] for i in [0, count): one more shard added to a running sum (the same
/// single-precision additions, in the same order, as `reduceAndAdamUpdate` makes).
public func addInPlace(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        store16(load16(dst + i) + load16(src + i), dst + i)
        i += 16
    }
    while i < count {
        dst[i] += src[i]
        i += 1
    }
}
