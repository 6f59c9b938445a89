import Foundation

/// Adam hyper-parameters (PyTorch's defaults).
public struct AdamConfig: Sendable, Equatable, Codable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public init(learningRate: Float = 1e-3) { self.learningRate = learningRate }
}

/// Adam's state: the moments share the parameter layout; `step` counts updates.
public final class AdamState: @unchecked Sendable {
    public let m: FloatBuffer
    public let v: FloatBuffer
    public var step: Int = 0

    public init(count: Int) {
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
    }
}

/// Sums the shard gradients for elements [begin, end) in shard order and applies one Adam
/// update to that slice, exactly as torch.optim.Adam (foreach=False) computes it:
///   m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2
///   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// `begin` and `end` are multiples of 8 (the layout pads to whole SIMD blocks), so every
/// element takes the same path whatever the slicing: results do not depend on thread count.
public func reduceAndAdamUpdate(
    params: UnsafeMutablePointer<Float>, shardGrads: UnsafePointer<Float>, shards: Int, stride: Int,
    m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
    begin: Int, end: Int, step: Int, config: AdamConfig,
    gradOut: UnsafeMutablePointer<Float>? = nil
) {
    precondition(begin % 8 == 0 && end % 8 == 0)
    let t = Double(step)
    let bc1 = 1 - pow(Double(config.beta1), t)
    let bc2 = 1 - pow(Double(config.beta2), t)
    let stepSize = V8(repeating: Float(Double(config.learningRate) / bc1))
    let bc2Sqrt = V8(repeating: Float(bc2.squareRoot()))
    let oneMinusB1 = V8(repeating: 1 - config.beta1), b2 = V8(repeating: config.beta2)
    let oneMinusB2 = V8(repeating: 1 - config.beta2), eps = V8(repeating: config.epsilon)
    var i = begin
    while i < end {
        var g = load8(shardGrads + i)
        var s = 1
        while s < shards { g += load8(shardGrads + s * stride + i); s += 1 }
        if let gradOut { store8(g, gradOut + i) }
        var mv = load8(m + i)
        mv = mv + oneMinusB1 * (g - mv)
        let vv = b2 * load8(v + i) + oneMinusB2 * (g * g)
        store8(mv, m + i)
        store8(vv, v + i)
        let denom = vv.squareRoot() / bc2Sqrt + eps
        store8(load8(params + i) - stepSize * (mv / denom), params + i)
        i += 8
    }
}

/// out[i] = sum of the shard gradients shards.lowerBound..<shards.upperBound, in shard
/// order, for i in [begin, end) (multiples of 8); zero for an empty range. A rank's partial
/// sum before MPI_Allreduce.
public func sumShards(_ shardGrads: UnsafePointer<Float>, shards: Range<Int>, stride: Int,
                      into out: UnsafeMutablePointer<Float>, begin: Int, end: Int) {
    precondition(begin % 8 == 0 && end % 8 == 0)
    var i = begin
    while i < end {
        var g = V8(repeating: 0)
        for s in shards { g += load8(shardGrads + s * stride + i) }
        store8(g, out + i)
        i += 8
    }
}
