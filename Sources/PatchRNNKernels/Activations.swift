import CSync

// Vectorized exp, sigmoid and tanh for the gates of the recurrent cells.
//
// exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r
// (the Cephes expf coefficients), and 2^n assembled in the exponent bits with the float
// "magic number" rounding trick (a SIMD Float -> Int32 conversion compiles to a slow generic
// call in Swift). Relative error about 2 ulp over the clamped range.
// sigmoid(x) = 1 / (1 + e^-x); tanh(x) = 2 sigmoid(2x) - 1. (A hardware reciprocal estimate
// plus a Newton step in place of the divide was tried and dropped: sigmoid and tanh then no
// longer saturate at exactly 1.) Measured maximum absolute error
// against Foundation's exp/tanh in Double: below 3e-7 (KernelTests.activationAccuracy asserts < 1e-6), far
// below the float32 rounding noise of the GEMMs that feed them.
//
// Clamped to [-87, 87] so that 2^n stays a normal float (sigmoid and tanh saturate long before).
//
// Scalar callers use the same SIMD code on a broadcast vector, so a value gets bit-identical
// results whether it sits in a vector body or in a tail.

/// A vector of floats the gate kernels run on: 8 lanes (one AVX2 register) or 16 (one AVX-512
/// register). Every operation below is lane-wise, so a value gets bit-identical results in
/// either width.
public protocol GateVector: SIMD where Scalar == Float {
    associatedtype Bits: SIMD where Bits.Scalar == UInt32
    static func load(_ p: UnsafePointer<Float>) -> Self
    func store(_ p: UnsafeMutablePointer<Float>)
    /// Lane-wise min(max(x, lo), hi), NaN lanes kept.
    static func clamp(_ x: Self, _ lo: Float, _ hi: Float) -> Self
}

extension SIMD8: GateVector where Scalar == Float {
    public typealias Bits = SIMD8<UInt32>
    @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { load8(p) }
    @inline(__always) public func store(_ p: UnsafeMutablePointer<Float>) { store8(self, p) }
    @inline(__always) public static func clamp(_ x: SIMD8<Float>, _ lo: Float, _ hi: Float) -> SIMD8<Float> { prnn_clamp8(x, lo, hi) }
}

extension SIMD16: GateVector where Scalar == Float {
    public typealias Bits = SIMD16<UInt32>
    @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { load16(p) }
    @inline(__always) public func store(_ p: UnsafeMutablePointer<Float>) { store16(self, p) }
    @inline(__always) public static func clamp(_ x: SIMD16<Float>, _ lo: Float, _ hi: Float) -> SIMD16<Float> { prnn_clamp16(x, lo, hi) }
}

@inline(__always)
public func fastExp<V: GateVector>(_ input: V) -> V {
    let x = V.clamp(input, -87.0, 87.0)
    let magic = V(repeating: 12_582_912.0)  // 1.5 * 2^23: adding it rounds to an integer
    // Every a * b + c below is one fused multiply-add (addingProduct): Swift does not contract
    // them on its own, and separate multiplies and adds double the instructions and latency.
    let shifted = magic.addingProduct(x, V(repeating: 1.442_695_040_888_963_4))
    let n = shifted - magic
    var r = x.addingProduct(n, V(repeating: -0.693_359_375))
    r = r.addingProduct(n, V(repeating: 2.121_944_400_546_905_827_7e-4))
    var p = V(repeating: 1.987_569_150_0e-4)
    p = V(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
    p = V(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
    p = V(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
    p = V(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
    p = V(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
    let er = r.addingProduct(p, r * r) + V(repeating: 1)
    // The low mantissa bits of `shifted` hold n (two's complement around 0x4B400000).
    let bits = unsafeBitCast(shifted, to: V.Bits.self)
    let scaleBits = (bits &- 0x4B40_0000 &+ 127) &<< 23
    return er * unsafeBitCast(scaleBits, to: V.self)
}

@inline(__always)
public func fastSigmoid<V: GateVector>(_ x: V) -> V {
    V(repeating: 1) / (V(repeating: 1) + fastExp(-x))
}

@inline(__always)
public func fastTanh<V: GateVector>(_ x: V) -> V {
    V(repeating: 2) * fastSigmoid(V(repeating: 2) * x) - V(repeating: 1)
}

@inline(__always) public func fastSigmoid(_ x: Float) -> Float { fastSigmoid(V8(repeating: x))[0] }
@inline(__always) public func fastTanh(_ x: Float) -> Float { fastTanh(V8(repeating: x))[0] }

/// Applies sigmoid in place to `count` floats.
public func sigmoidInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) { mapInPlace(p, count: count) { fastSigmoid($0) } }

/// Applies tanh in place to `count` floats.
public func tanhInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) { mapInPlace(p, count: count) { fastTanh($0) } }

/// Clamps `count` floats to [lo, hi] in place (a NaN stays NaN).
public func clampInPlace(_ p: UnsafeMutablePointer<Float>, count: Int, _ lo: Float, _ hi: Float) {
    mapInPlace(p, count: count) { prnn_clamp8($0, lo, hi) }
}

/// p[i] = f(p[i]) in vectors of 8; the tail through the same f on a broadcast vector, so a value
/// gets the same result wherever it sits.
@inline(__always)
func mapInPlace(_ p: UnsafeMutablePointer<Float>, count: Int, _ f: (V8) -> V8) {
    var i = 0
    while i + 8 <= count {
        store8(f(load8(p + i)), p + i)
        i += 8
    }
    while i < count {
        p[i] = f(V8(repeating: p[i]))[0]
        i += 1
    }
}
