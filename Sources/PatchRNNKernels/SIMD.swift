// The SIMD vocabulary of the kernels: 8 floats (one AVX2 register), loaded and stored
// unaligned from raw pointers.

public typealias V8 = SIMD8<Float>

@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> V8 {
    UnsafeRawPointer(p).loadUnaligned(as: V8.self)
}

@inlinable @inline(__always)
public func store8(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
}
