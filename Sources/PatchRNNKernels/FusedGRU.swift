// One GRU time step for a run of rows, with its products and the cell update in one kernel
// (the LSTM's is FusedLSTM.swift, which says why). Per row and group of U units the tile holds
// the sums of the hidden projection h_{t-1} W_hh^T for r, z and n (from 0), and, in generation,
// those of the input projection x_t W_ih^T too (one pass over [x | h] instead of two products);
// in training the input projection of every step is in the gate buffer already. The epilogue:
//   r = s(a_ir + a_hr + b_r)   z = s(a_iz + a_hz + b_z)   hn = a_hn + b_hn
//   n = tanh(a_in + b_in + r hn)   h = n + z (h_prev - n)
// the operations of GRUKernels.swift in the same order, so the results are bit-identical.

/// The buffers of one fused GRU step (row r of each at base + r * its row stride).
public struct GRUStepBuffers {
    /// h_{t-1} rows and the hidden projection's weights in gate panels (H rows); kHidden = 0
    /// at step 0 (h_0 = 0: the sums stay 0).
    public var kHidden: Int
    public var hPrev: UnsafePointer<Float>
    public var hPrevRowStride: Int
    public var hiddenPanels: UnsafePointer<Float>
    /// Generation: x_t rows and the input projection's weights in gate panels (kInput rows);
    /// nil in training, where `gates` holds x_t W_ih^T (grouped order) on entry.
    public var input: UnsafePointer<Float>?
    public var inputRowStride: Int
    public var kInput: Int
    public var inputPanels: UnsafePointer<Float>?
    /// [rows x 3H], grouped order: the input projection on entry in training; the activated
    /// r, z, n on exit (`storesGates`: backward reads them).
    public var gates: UnsafeMutablePointer<Float>
    public var storesGates: Bool
    /// b_ih + b_hh (its r and z parts), b_ih and b_hh (their n parts), grouped order.
    public var biasSum: UnsafePointer<Float>
    public var biasIH: UnsafePointer<Float>
    public var biasHH: UnsafePointer<Float>
    /// W_hn h + b_hn [rows x H] (training: backward reads it), or nil.
    public var hiddenN: UnsafeMutablePointer<Float>?
    /// h_t: not where h_{t-1} is read from (later groups' sums still read it).
    public var hOut: UnsafeMutablePointer<Float>
    public var hOutRowStride: Int
    public var layout: GateLayout

    public init(
        kHidden: Int, hPrev: UnsafePointer<Float>, hPrevRowStride: Int, hiddenPanels: UnsafePointer<Float>,
        input: UnsafePointer<Float>?, inputRowStride: Int, kInput: Int, inputPanels: UnsafePointer<Float>?,
        gates: UnsafeMutablePointer<Float>, storesGates: Bool,
        biasSum: UnsafePointer<Float>, biasIH: UnsafePointer<Float>, biasHH: UnsafePointer<Float>,
        hiddenN: UnsafeMutablePointer<Float>?, hOut: UnsafeMutablePointer<Float>, hOutRowStride: Int, layout: GateLayout
    ) {
        self.kHidden = kHidden
        self.hPrev = hPrev
        self.hPrevRowStride = hPrevRowStride
        self.hiddenPanels = hiddenPanels
        self.input = input
        self.inputRowStride = inputRowStride
        self.kInput = kInput
        self.inputPanels = inputPanels
        self.gates = gates
        self.storesGates = storesGates
        self.biasSum = biasSum
        self.biasIH = biasIH
        self.biasHH = biasHH
        self.hiddenN = hiddenN
        self.hOut = hOut
        self.hOutRowStride = hOutRowStride
        self.layout = layout
    }
}

/// The sums of one row and group: r, z, n.
struct GateSums3<V: GateVector> {
    var r = V(), z = V(), n = V()

    /// One k step of one row: its broadcast value x times the step's three panel vectors.
    @inline(__always)
    mutating func add(_ x: V, _ br: V, _ bz: V, _ bn: V) {
        r.addProduct(x, br)
        z.addProduct(x, bz)
        n.addProduct(x, bn)
    }

    /// The plain k-ordered sums of a[0..<k] times a panel's rows.
    @inline(__always)
    mutating func add(_ a: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, k: Int) {
        let u = V.scalarCount
        var pb = panel
        for p in 0..<k {
            add(V(repeating: a[p]), V.load(pb), V.load(pb + u), V.load(pb + 2 * u))
            pb += 3 * u
        }
    }

    /// The same sums for two rows at once, each panel vector loaded once for both (the
    /// 2-row tiles of generation).
    @inline(__always)
    static func add(
        _ s0: inout GateSums3, _ s1: inout GateSums3, rows a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>,
        _ panel: UnsafePointer<Float>, k: Int
    ) {
        let u = V.scalarCount
        var pb = panel
        for p in 0..<k {
            let br = V.load(pb), bz = V.load(pb + u), bn = V.load(pb + 2 * u)
            s0.add(V(repeating: a0[p]), br, bz, bn)
            s1.add(V(repeating: a1[p]), br, bz, bn)
            pb += 3 * u
        }
    }

    /// PackedGEMM's split 1-row tile: even k into these sums, odd k into second ones, then added.
    @inline(__always)
    mutating func addSplit(_ a: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, k: Int) {
        let u = V.scalarCount
        var odd = GateSums3()
        var pb = panel
        var p = 0
        while p + 2 <= k {
            add(V(repeating: a[p]), V.load(pb), V.load(pb + u), V.load(pb + 2 * u))
            odd.add(V(repeating: a[p + 1]), V.load(pb + 3 * u), V.load(pb + 4 * u), V.load(pb + 5 * u))
            pb += 6 * u
            p += 2
        }
        if p < k { add(V(repeating: a[p]), V.load(pb), V.load(pb + u), V.load(pb + 2 * u)) }
        r += odd.r
        z += odd.z
        n += odd.n
    }
}

/// The fused step for `rows`, in vectors of the layout's units (8: SIMD8, 16: SIMD16).
public func gruFusedStep(_ s: GRUStepBuffers, rows: Range<Int>, split: Bool = false) {
    if s.layout.units == 16 {
        gruFusedStep(s, rows: rows, split: split, vector: V16.self)
    } else {
        gruFusedStep(s, rows: rows, split: split, vector: V8.self)
    }
}

/// The fused step for `rows` (tiles of 4 rows in training, 2 in generation, then single rows),
/// in vectors of V's lanes (the layout's units). `split`: one row, summed as PackedGEMM's split
/// 1-row tile sums (both products).
public func gruFusedStep<V: GateVector>(_ s: GRUStepBuffers, rows: Range<Int>, split: Bool = false, vector: V.Type) {
    let u = V.scalarCount
    precondition(s.layout.units == u && s.layout.gates == 3)
    precondition(!split || rows.count == 1)
    let width = 3 * u
    for group in 0..<s.layout.groups {
        let hidden = s.hiddenPanels + group * s.kHidden * width
        let input = s.inputPanels.map { $0 + group * s.kInput * width }
        var r = rows.lowerBound
        if !split {
            if let input {
                while r + 2 <= rows.upperBound {
                    gruTile2(s, row: r, hiddenPanel: hidden, inputPanel: input, group: group, vector: V.self)
                    r += 2
                }
            } else {
                while r + 4 <= rows.upperBound {
                    gruTile4(s, row: r, hiddenPanel: hidden, group: group, vector: V.self)
                    r += 4
                }
            }
        }
        while r < rows.upperBound {
            var h = GateSums3<V>(), x = GateSums3<V>()
            let hp = s.hPrev + r * s.hPrevRowStride
            if split { h.addSplit(hp, hidden, k: s.kHidden) } else { h.add(hp, hidden, k: s.kHidden) }
            if let input, let a = s.input {
                let xr = a + r * s.inputRowStride
                if split { x.addSplit(xr, input, k: s.kInput) } else { x.add(xr, input, k: s.kInput) }
            }
            gruEpilogue(s, row: r, group: group, hidden: h, input: x)
            r += 1
        }
    }
}

/// Training: 4 rows x (r, z, n) of the hidden projection (12 accumulators).
@inline(__always)
func gruTile4<V: GateVector>(_ s: GRUStepBuffers, row r: Int, hiddenPanel: UnsafePointer<Float>, group: Int, vector: V.Type) {
    let u = V.scalarCount, st = s.hPrevRowStride
    let a0 = s.hPrev + r * st, a1 = a0 + st, a2 = a1 + st, a3 = a2 + st
    var h0 = GateSums3<V>(), h1 = GateSums3<V>(), h2 = GateSums3<V>(), h3 = GateSums3<V>()
    var pb = hiddenPanel
    // The three panel vectors first, then one row's broadcast at a time: 12 accumulators +
    // 3 + 1 registers fit AVX2's 16 (four broadcasts held at once spilled accumulators).
    for p in 0..<s.kHidden {
        let br = V.load(pb), bz = V.load(pb + u), bn = V.load(pb + 2 * u)
        h0.add(V(repeating: a0[p]), br, bz, bn)
        h1.add(V(repeating: a1[p]), br, bz, bn)
        h2.add(V(repeating: a2[p]), br, bz, bn)
        h3.add(V(repeating: a3[p]), br, bz, bn)
        pb += 3 * u
    }
    let none = GateSums3<V>()
    gruEpilogue(s, row: r, group: group, hidden: h0, input: none)
    gruEpilogue(s, row: r + 1, group: group, hidden: h1, input: none)
    gruEpilogue(s, row: r + 2, group: group, hidden: h2, input: none)
    gruEpilogue(s, row: r + 3, group: group, hidden: h3, input: none)
}

/// Generation: 2 rows x (r, z, n) of both projections (12 accumulators).
@inline(__always)
func gruTile2<V: GateVector>(
    _ s: GRUStepBuffers, row r: Int, hiddenPanel: UnsafePointer<Float>, inputPanel: UnsafePointer<Float>,
    group: Int, vector: V.Type
) {
    var h0 = GateSums3<V>(), h1 = GateSums3<V>(), x0 = GateSums3<V>(), x1 = GateSums3<V>()
    if let input = s.input {
        let a0 = input + r * s.inputRowStride
        GateSums3.add(&x0, &x1, rows: a0, a0 + s.inputRowStride, inputPanel, k: s.kInput)
    }
    let a0 = s.hPrev + r * s.hPrevRowStride
    GateSums3.add(&h0, &h1, rows: a0, a0 + s.hPrevRowStride, hiddenPanel, k: s.kHidden)
    gruEpilogue(s, row: r, group: group, hidden: h0, input: x0)
    gruEpilogue(s, row: r + 1, group: group, hidden: h1, input: x1)
}

/// The cell update of one row and group (see the top of the file). `input`: the input
/// projection's sums in generation (in training they are read from the gate buffer).
@inline(__always)
func gruEpilogue<V: GateVector>(_ s: GRUStepBuffers, row r: Int, group: Int, hidden a: GateSums3<V>, input x: GateSums3<V>) {
    let u = V.scalarCount, column = group * 3 * u, unit = group * u
    let g = s.gates + r * 3 * s.layout.hidden + column
    let xr: V, xz: V, xn: V
    if s.input == nil {
        xr = V.load(g)
        xz = V.load(g + u)
        xn = V.load(g + 2 * u)
    } else {
        xr = x.r
        xz = x.z
        xn = x.n
    }
    let rg = fastSigmoid(xr + a.r + V.load(s.biasSum + column))
    let zg = fastSigmoid(xz + a.z + V.load(s.biasSum + column + u))
    let hn = a.n + V.load(s.biasHH + column + 2 * u)
    let ng = fastTanh((xn + V.load(s.biasIH + column + 2 * u)).addingProduct(rg, hn))
    let out = ng.addingProduct(zg, V.load(s.hPrev + r * s.hPrevRowStride + unit) - ng)
    if s.storesGates {
        rg.store(g)
        zg.store(g + u)
        ng.store(g + 2 * u)
    }
    if let hiddenN = s.hiddenN { hn.store(hiddenN + r * s.layout.hidden + unit) }
    out.store(s.hOut + r * s.hOutRowStride + unit)
}
