// Gates in registers: the column order that lets one register tile hold every gate of a group
// of hidden units, so that a recurrent step's product and its cell update run as one kernel
// and the pre-activations never go to memory and back (FusedLSTM.swift, FusedGRU.swift).
//
// PyTorch orders a projection's G*H columns gate by gate ([i | f | g | o] for the LSTM, each H
// wide). Grouped by `units` U (the lanes of one vector: 8 or 16), the columns are instead
// [i(U) f(U) g(U) o(U)] for units 0..<U, then the same for units U..<2U, and so on: column
// (gate, j) sits at (j / U) * G * U + gate * U + j % U. With U = H this is PyTorch's order.
//
// Only the packed forward-form weights and the gate buffers of the forward pass use the
// grouped order; checkpoints, the parameter buffer and every gradient keep PyTorch's.

/// Where the columns of a cell's gate projections are (see above).
public struct GateLayout: Sendable, Equatable {
    public let gates: Int
    public let hidden: Int
    /// Units per group: 8 or 16 when grouped, `hidden` for PyTorch's order.
    public let units: Int

    public init(gates: Int, hidden: Int, units: Int) {
        precondition(units >= 1 && hidden % units == 0)
        self.gates = gates
        self.hidden = hidden
        self.units = units
    }

    /// PyTorch's order (one group of all units).
    public static func standard(gates: Int, hidden: Int) -> GateLayout { GateLayout(gates: gates, hidden: hidden, units: hidden) }

    /// The grouped order for vectors of `lanes` floats where the hidden size allows it (a
    /// multiple of `lanes`), else PyTorch's.
    public static func grouped(gates: Int, hidden: Int, lanes: Int) -> GateLayout {
        hidden % lanes == 0 ? GateLayout(gates: gates, hidden: hidden, units: lanes) : standard(gates: gates, hidden: hidden)
    }

    public var isStandard: Bool { units == hidden }
    public var groups: Int { hidden / units }

    /// The column of gate `gate` of unit j.
    @inline(__always)
    public func column(gate: Int, unit j: Int) -> Int { (j / units) * gates * units + gate * units + j % units }

    /// Where unit j's first gate is; gate g is `units * g` further (units j..<j+8 are
    /// contiguous in every gate when j is a multiple of 8, in either order).
    @inline(__always)
    public func base(unit j: Int) -> Int { (j / units) * gates * units + j % units }

    /// dst[column(gate, j)] = src[gate * hidden + j]: a bias (or any row) in this order.
    public func permute(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        for g in 0..<gates {
            for u in 0..<groups { (dst + u * gates * units + g * units).update(from: src + g * hidden + u * units, count: units) }
        }
    }

    /// Rows [0, k) of a k x (G*H) matrix B (B(r, c) = b[r * rowStride + c]), with its columns in
    /// this order, into dst[r * (G*H) + column]: the input of a product whose output columns
    /// should come out grouped.
    public func permuteColumns(k: Int, _ b: UnsafePointer<Float>, rowStride: Int, into dst: UnsafeMutablePointer<Float>) {
        let width = gates * hidden
        for r in 0..<k { permute(b + r * rowStride, into: dst + r * width) }
    }

    // MARK: Gate panels

    /// Floats of a k-row matrix packed in gate panels.
    public func panelFloats(k: Int) -> Int { k * gates * hidden }

    /// Packs rows [0, k) of B (B(r, c) = b[r * rowStride + c], c in PyTorch's order) as rows
    /// [rowOffset, rowOffset + k) of a `totalK`-row matrix in gate panels: panel u (units
    /// u*U..<(u+1)*U) is totalK rows of [gate 0 (U) | gate 1 (U) | ...], contiguous, so a fused
    /// kernel streams one group's weights for every gate at once.
    public func packPanels(
        k: Int, _ b: UnsafePointer<Float>, rowStride: Int, rowOffset: Int = 0, totalK: Int? = nil,
        into dst: UnsafeMutablePointer<Float>
    ) {
        precondition(!isStandard || hidden == units)
        let kk = totalK ?? k, width = gates * units
        for u in 0..<groups {
            let panel = dst + u * kk * width
            for r in 0..<k {
                let row = panel + (rowOffset + r) * width, src = b + r * rowStride + u * units
                for g in 0..<gates { (row + g * units).update(from: src + g * hidden, count: units) }
            }
        }
    }
}
