// The SIMD vocabulary of the kernels: 8 floats (one AVX2 register) and 16 floats (one
// AVX-512 register, or a pair of AVX2 registers where the CPU has no AVX-512), loaded and
// stored unaligned from raw pointers.

public typealias V8 = SIMD8<Float>
public typealias V16 = SIMD16<Float>

@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> V8 {
    UnsafeRawPointer(p).loadUnaligned(as: V8.self)
}

@inlinable @inline(__always)
public func store8(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
}

@inlinable @inline(__always)
public func load16(_ p: UnsafePointer<Float>) -> V16 {
    UnsafeRawPointer(p).loadUnaligned(as: V16.self)
}

@inlinable @inline(__always)
public func store16(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
}
