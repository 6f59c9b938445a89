// One LSTM time step for a run of rows, with the recurrent product and the cell update in one
// kernel: a register tile holds every gate of a group of U hidden units (U = the vector's
// lanes, the weights in gate panels: GateLayout.swift) for 3 rows, the k-loop accumulates
//   a = start + A W^T            (start: the input projection x W_ih^T, or 0)
// and the epilogue applies the cell to the registers directly:
//   i = s(a_i + b_i)  f = s(a_f + b_f)  g = tanh(a_g + b_g)  o = s(a_o + b_o)
//   c = f c_prev + i g      h = o tanh(c)
// so the pre-activations never go to memory and back. Every operation is the one the separate
// product (PackedGEMM.swift) and cell kernel (LSTMKernels.swift) make, in the same order, so the
// results are bit-identical to theirs: each row is the plain k-ordered sum, or, for a row the
// separate product would have left to its split 1-row tile, that tile's even/odd sums (`split`).
//
// Loop order: group outermost, so one group's weights (k x 4U floats: 8 KiB for k = 64, U = 8)
// stay in L1 while every row of the run goes by.

/// The buffers of one fused LSTM step (row r of each at base + r * its row stride).
public struct LSTMStepBuffers {
    /// Reduction length: H (h_{t-1} W_hh^T), in + H (generation: [x | h] [W_ih^T ; W_hh^T]), or 0.
    public var k: Int
    public var a: UnsafePointer<Float>
    public var aRowStride: Int
    /// The weights in gate panels, k rows (`GateLayout.packPanels`).
    public var panels: UnsafePointer<Float>
    /// [rows x 4H], grouped order: read as the start of the sums (`startsFromGates`: the input
    /// projection), written with the activated gates (`storesGates`: backward reads them).
    public var gates: UnsafeMutablePointer<Float>
    public var startsFromGates: Bool
    public var storesGates: Bool
    /// b_ih + b_hh, grouped order.
    public var bias: UnsafePointer<Float>
    public var cPrev: UnsafePointer<Float>
    public var cOut: UnsafeMutablePointer<Float>
    public var cRowStride: Int
    /// tanh(c) (training: backward reads it), or nil.
    public var tanhC: UnsafeMutablePointer<Float>?
    /// h_t: not where A is read from (the k-loops of later groups still read h_{t-1}).
    public var hOut: UnsafeMutablePointer<Float>
    public var hRowStride: Int
    public var layout: GateLayout

    public init(
        k: Int, a: UnsafePointer<Float>, aRowStride: Int, panels: UnsafePointer<Float>,
        gates: UnsafeMutablePointer<Float>, startsFromGates: Bool, storesGates: Bool, bias: UnsafePointer<Float>,
        cPrev: UnsafePointer<Float>, cOut: UnsafeMutablePointer<Float>, cRowStride: Int,
        tanhC: UnsafeMutablePointer<Float>?, hOut: UnsafeMutablePointer<Float>, hRowStride: Int, layout: GateLayout
    ) {
        self.k = k
        self.a = a
        self.aRowStride = aRowStride
        self.panels = panels
        self.gates = gates
        self.startsFromGates = startsFromGates
        self.storesGates = storesGates
        self.bias = bias
        self.cPrev = cPrev
        self.cOut = cOut
        self.cRowStride = cRowStride
        self.tanhC = tanhC
        self.hOut = hOut
        self.hRowStride = hRowStride
        self.layout = layout
    }
}

/// The fused step for `rows`, in vectors of the layout's units (8: SIMD8, 16: SIMD16).
public func lstmFusedStep(_ s: LSTMStepBuffers, rows: Range<Int>, split: Bool = false) {
    if s.layout.units == 16 {
        lstmFusedStep(s, rows: rows, split: split, vector: V16.self)
    } else {
        lstmFusedStep(s, rows: rows, split: split, vector: V8.self)
    }
}

/// The fused step for `rows` (tiles of 3 rows, then single rows), in vectors of V's lanes
/// (which must be the layout's units). With `split` (one row only), the row's sums are taken
/// over even and odd k separately and then added, as PackedGEMM's split 1-row tile does.
public func lstmFusedStep<V: GateVector>(_ s: LSTMStepBuffers, rows: Range<Int>, split: Bool = false, vector: V.Type) {
    let u = V.scalarCount
    precondition(s.layout.units == u && s.layout.gates == 4)
    precondition(!split || rows.count == 1)
    let width = 4 * u, panelStride = s.k * width
    for group in 0..<s.layout.groups {
        let panel = s.panels + group * panelStride, column = group * width
        var r = rows.lowerBound
        if !split {
            while r + 3 <= rows.upperBound {
                lstmTile3(s, row: r, panel: panel, column: column, group: group, vector: V.self)
                r += 3
            }
        }
        while r < rows.upperBound {
            lstmTile1(s, row: r, panel: panel, column: column, group: group, split: split, vector: V.self)
            r += 1
        }
    }
}

@inline(__always)
func lstmTile3<V: GateVector>(_ s: LSTMStepBuffers, row r: Int, panel: UnsafePointer<Float>, column: Int, group: Int, vector: V.Type) {
    let u = V.scalarCount, gs = 4 * s.layout.hidden
    let g0 = s.gates + r * gs + column, g1 = g0 + gs, g2 = g1 + gs
    var i0 = V(), f0 = V(), c0 = V(), o0 = V()
    var i1 = V(), f1 = V(), c1 = V(), o1 = V()
    var i2 = V(), f2 = V(), c2 = V(), o2 = V()
    if s.startsFromGates {
        i0 = V.load(g0)
        f0 = V.load(g0 + u)
        c0 = V.load(g0 + 2 * u)
        o0 = V.load(g0 + 3 * u)
        i1 = V.load(g1)
        f1 = V.load(g1 + u)
        c1 = V.load(g1 + 2 * u)
        o1 = V.load(g1 + 3 * u)
        i2 = V.load(g2)
        f2 = V.load(g2 + u)
        c2 = V.load(g2 + 2 * u)
        o2 = V.load(g2 + 3 * u)
    }
    let a0 = s.a + r * s.aRowStride, a1 = a0 + s.aRowStride, a2 = a1 + s.aRowStride
    var pb = panel
    for p in 0..<s.k {
        let x0 = V(repeating: a0[p]), x1 = V(repeating: a1[p]), x2 = V(repeating: a2[p])
        var b = V.load(pb)
        i0.addProduct(x0, b)
        i1.addProduct(x1, b)
        i2.addProduct(x2, b)
        b = V.load(pb + u)
        f0.addProduct(x0, b)
        f1.addProduct(x1, b)
        f2.addProduct(x2, b)
        b = V.load(pb + 2 * u)
        c0.addProduct(x0, b)
        c1.addProduct(x1, b)
        c2.addProduct(x2, b)
        b = V.load(pb + 3 * u)
        o0.addProduct(x0, b)
        o1.addProduct(x1, b)
        o2.addProduct(x2, b)
        pb += 4 * u
    }
    lstmEpilogue(s, row: r, column: column, group: group, i0, f0, c0, o0)
    lstmEpilogue(s, row: r + 1, column: column, group: group, i1, f1, c1, o1)
    lstmEpilogue(s, row: r + 2, column: column, group: group, i2, f2, c2, o2)
}

@inline(__always)
func lstmTile1<V: GateVector>(
    _ s: LSTMStepBuffers, row r: Int, panel: UnsafePointer<Float>, column: Int, group: Int,
    split: Bool, vector: V.Type
) {
    let u = V.scalarCount
    let g0 = s.gates + r * 4 * s.layout.hidden + column
    var i = V(), f = V(), c = V(), o = V()
    if s.startsFromGates {
        i = V.load(g0)
        f = V.load(g0 + u)
        c = V.load(g0 + 2 * u)
        o = V.load(g0 + 3 * u)
    }
    let a = s.a + r * s.aRowStride
    var pb = panel
    if split {
        // PackedGEMM's split 1-row tile: even k into the running sums, odd k into second ones.
        var di = V(), df = V(), dc = V(), dout = V()
        var p = 0
        while p + 2 <= s.k {
            let x = V(repeating: a[p]), y = V(repeating: a[p + 1])
            i.addProduct(x, V.load(pb))
            f.addProduct(x, V.load(pb + u))
            c.addProduct(x, V.load(pb + 2 * u))
            o.addProduct(x, V.load(pb + 3 * u))
            di.addProduct(y, V.load(pb + 4 * u))
            df.addProduct(y, V.load(pb + 5 * u))
            dc.addProduct(y, V.load(pb + 6 * u))
            dout.addProduct(y, V.load(pb + 7 * u))
            pb += 8 * u
            p += 2
        }
        if p < s.k {
            let x = V(repeating: a[p])
            i.addProduct(x, V.load(pb))
            f.addProduct(x, V.load(pb + u))
            c.addProduct(x, V.load(pb + 2 * u))
            o.addProduct(x, V.load(pb + 3 * u))
        }
        i += di
        f += df
        c += dc
        o += dout
    } else {
        for p in 0..<s.k {
            let x = V(repeating: a[p])
            i.addProduct(x, V.load(pb))
            f.addProduct(x, V.load(pb + u))
            c.addProduct(x, V.load(pb + 2 * u))
            o.addProduct(x, V.load(pb + 3 * u))
            pb += 4 * u
        }
    }
    lstmEpilogue(s, row: r, column: column, group: group, i, f, c, o)
}

/// The cell update of one row and one group from its four gate sums (see the top of the file).
@inline(__always)
func lstmEpilogue<V: GateVector>(_ s: LSTMStepBuffers, row r: Int, column: Int, group: Int, _ ai: V, _ af: V, _ ag: V, _ ao: V) {
    let u = V.scalarCount
    let b = s.bias + column
    let ig = fastSigmoid(ai + V.load(b))
    let fg = fastSigmoid(af + V.load(b + u))
    let gg = fastTanh(ag + V.load(b + 2 * u))
    let og = fastSigmoid(ao + V.load(b + 3 * u))
    let unit = group * u
    let c = fg * V.load(s.cPrev + r * s.cRowStride + unit) + ig * gg
    let t = fastTanh(c)
    let h = og * t
    if s.storesGates {
        let g = s.gates + r * 4 * s.layout.hidden + column
        ig.store(g)
        fg.store(g + u)
        gg.store(g + 2 * u)
        og.store(g + 3 * u)
    }
    c.store(s.cOut + r * s.cRowStride + unit)
    if let tanhC = s.tanhC { t.store(tanhC + r * s.layout.hidden + unit) }
    h.store(s.hOut + r * s.hRowStride + unit)
}
