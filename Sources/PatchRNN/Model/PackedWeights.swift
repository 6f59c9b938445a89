import Foundation
import PatchRNNKernels

/// The weight forms a workspace packs from the parameters.
public struct PackedForms: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The forward products of training and evaluation: W_ih^T for the input projection of all
    /// steps, W_hh^T for the recurrence (in gate panels where the gates are grouped), W_d^T,
    /// and the biases.
    public static let forward = PackedForms(rawValue: 1)
    /// W_ih, W_hh, W_d (the stored matrices read transposed): backward's dG W and dY W.
    public static let backward = PackedForms(rawValue: 2)
    /// [W_ih^T ; W_hh^T] stacked along k, W_d^T and the biases: one product per layer and step
    /// over [x | h] (generation with a cell whose projections are simply added).
    public static let stacked = PackedForms(rawValue: 4)
    /// W_ih^T and W_hh^T, each for a one-step product (in gate panels where the gates are
    /// grouped, one pass over [x | h] keeping the two sums apart), W_d^T and the biases:
    /// generation with a cell that needs the projections separately.
    public static let stepwise = PackedForms(rawValue: 8)
}

/// How a workspace orders the gate columns of its forward products (`GateLayout`).
public enum GateOrder: String, Sendable {
    /// Grouped by the vector width of the GEMM tile where the hidden size allows it, so the
    /// recurrent steps run fused (FusedLSTM.swift, FusedGRU.swift); else PyTorch's.
    case grouped
    /// PyTorch's order, with a separate product and cell kernel per step (the reference the
    /// fused kernels are tested against bit for bit).
    case standard

    /// `PATCHRNN_GENERATION_GATES=grouped|standard`: the order generation uses, whatever the
    /// cell prefers (read once; the tool refuses any other value before it starts).
    public static let forcedForGeneration: GateOrder? = getenv("PATCHRNN_GENERATION_GATES").flatMap {
        GateOrder(rawValue: String(cString: $0))
    }

    func layout(gates: Int, hidden: Int, format: PanelFormat) -> GateLayout {
        switch self {
        case .grouped: return .grouped(gates: gates, hidden: hidden, lanes: format == .simd16x32 ? 16 : 8)
        case .standard: return .standard(gates: gates, hidden: hidden)
        }
    }
}

/// One layer's packed weights (forms that were not packed are empty, 0 x 0, or point at zeros)
/// and its biases, all copies taken by the last `PackedWeights.update`. The forward forms'
/// columns, the gate panels and the biases are in `gates`' order; the backward forms in
/// PyTorch's.
public struct PackedLayer: @unchecked Sendable {
    /// The GEMM tile's panel format, and the order of the gate columns.
    public let format: PanelFormat
    public let gates: GateLayout
    public let inputT: PackedMatrix  // W_ih^T [in x G*H]
    public let hiddenT: PackedMatrix  // W_hh^T [H x G*H] (standard order only)
    public let input: PackedMatrix  // W_ih [G*H x in]
    public let hidden: PackedMatrix  // W_hh [G*H x H]
    public let stackedT: PackedMatrix  // [W_ih^T ; W_hh^T] [(in + H) x G*H] (standard order only)
    /// Gate panels (grouped order only): W_hh^T [H rows], W_ih^T [in rows], [W_ih^T ; W_hh^T].
    public let hiddenPanels: UnsafePointer<Float>
    public let inputPanels: UnsafePointer<Float>
    public let stackedPanels: UnsafePointer<Float>
    public let biasSum: UnsafePointer<Float>  // b_ih + b_hh [G*H]
    public let biasIH: UnsafePointer<Float>  // b_ih [G*H]
    public let biasHH: UnsafePointer<Float>  // b_hh [G*H]

    /// Whether the recurrent steps run fused (gates grouped).
    public var fused: Bool { !gates.isStandard }
}

/// The one place weights are packed for the GEMMs: every form the workspaces use, packed from
/// the flat parameter buffer once per parameter version. The panel format comes from the GEMM
/// tile (`PanelFormat`), so a second tile shape changes nothing here but the format.
public final class PackedWeights: @unchecked Sendable {
    public let layout: ParameterLayout
    public let forms: PackedForms
    public let format: PanelFormat
    /// The order of the gate columns of the forward forms.
    public let gates: GateLayout
    private let block: BufferBlock
    private let slots: [LayerSlots]
    private let denseTSlot: Int?, denseSlot: Int?, scratchSlot: Int?
    private var params: UnsafePointer<Float>?
    /// An empty matrix for the forms that were not packed.
    private nonisolated(unsafe) static let none: UnsafeMutablePointer<Float> = {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        p.initialize(repeating: 0, count: 16)
        return p
    }()

    struct LayerSlots {
        var inputT, hiddenT, input, hidden, stackedT, hiddenPanels, inputPanels, stackedPanels: Int?
        var biasSum, biasIH, biasHH: Int?
    }

    /// The plan of the buffers for these forms (also what the memory estimate counts).
    static func plan(_ layout: ParameterLayout, forms: PackedForms, format: PanelFormat, gates: GateLayout)
        -> (BufferPlan, [LayerSlots], denseT: Int?, dense: Int?, scratch: Int?)
    {
        var plan = BufferPlan()
        let c = layout.config, h = c.hidden, gh = c.cell.gateCount * h
        let grouped = !gates.isStandard
        let slots = (0..<c.layers).map { l -> LayerSlots in
            let inDim = c.layerInputSize(l)
            var s = LayerSlots()
            if forms.contains(.forward) {
                s.inputT = plan.add("layer \(l): W_ih^T", format.floats(k: inDim, n: gh))
                if grouped {
                    s.hiddenPanels = plan.add("layer \(l): W_hh^T panels", gates.panelFloats(k: h))
                } else {
                    s.hiddenT = plan.add("layer \(l): W_hh^T", format.floats(k: h, n: gh))
                }
            }
            if forms.contains(.backward) {
                s.input = plan.add("layer \(l): W_ih", format.floats(k: gh, n: inDim))
                s.hidden = plan.add("layer \(l): W_hh", format.floats(k: gh, n: h))
            }
            if forms.contains(.stacked) {
                if grouped {
                    s.stackedPanels = plan.add("layer \(l): [W_ih^T ; W_hh^T] panels", gates.panelFloats(k: inDim + h))
                } else {
                    s.stackedT = plan.add("layer \(l): [W_ih^T ; W_hh^T]", format.floats(k: inDim + h, n: gh))
                }
            }
            if forms.contains(.stepwise) {
                if grouped {
                    s.inputPanels = plan.add("layer \(l): W_ih^T panels", gates.panelFloats(k: inDim))
                    if s.hiddenPanels == nil { s.hiddenPanels = plan.add("layer \(l): W_hh^T panels", gates.panelFloats(k: h)) }
                } else {
                    if s.inputT == nil { s.inputT = plan.add("layer \(l): W_ih^T", format.floats(k: inDim, n: gh)) }
                    if s.hiddenT == nil { s.hiddenT = plan.add("layer \(l): W_hh^T", format.floats(k: h, n: gh)) }
                }
            }
            if !forms.isDisjoint(with: [.forward, .stacked, .stepwise]) {
                s.biasSum = plan.add("layer \(l): b_ih + b_hh", gh)
                s.biasIH = plan.add("layer \(l): b_ih", gh)
                s.biasHH = plan.add("layer \(l): b_hh", gh)
            }
            return s
        }
        let denseT =
            forms.isDisjoint(with: [.forward, .stacked, .stepwise]) ? nil : plan.add("W_d^T", format.floats(k: h, n: c.outputSize))
        let dense = forms.contains(.backward) ? plan.add("W_d", format.floats(k: c.outputSize, n: h)) : nil
        // W_ih^T with its columns grouped, before it is packed into panels (the widest input).
        let scratch = grouped && forms.contains(.forward) ? plan.add("W_ih^T, columns grouped", max(c.inputSize, h) * gh) : nil
        return (plan, slots, denseT, dense, scratch)
    }

    public static func floats(
        _ layout: ParameterLayout, forms: PackedForms, format: PanelFormat = .preferred,
        gateOrder: GateOrder = .grouped
    ) -> Int {
        let c = layout.config
        return plan(
            layout, forms: forms, format: format,
            gates: gateOrder.layout(gates: c.cell.gateCount, hidden: c.hidden, format: format)
        ).0.floats
    }

    public init(layout: ParameterLayout, forms: PackedForms, format: PanelFormat = .preferred, gateOrder: GateOrder = .grouped) {
        self.layout = layout
        self.forms = forms
        self.format = format
        let c = layout.config
        gates = gateOrder.layout(gates: c.cell.gateCount, hidden: c.hidden, format: format)
        let (plan, slots, denseT, dense, scratch) = Self.plan(layout, forms: forms, format: format, gates: gates)
        block = BufferBlock(plan, what: "packed weights")
        self.slots = slots
        denseTSlot = denseT
        denseSlot = dense
        scratchSlot = scratch
    }

    private func matrix(_ slot: Int?, k: Int, n: Int) -> PackedMatrix {
        guard let slot else { return PackedMatrix(base: Self.none, k: 0, n: 0, format: format) }
        return PackedMatrix(base: block[slot], k: k, n: n, format: format)
    }

    private func vector(_ slot: Int?) -> UnsafePointer<Float> { UnsafePointer(slot.map { block[$0] } ?? Self.none) }

    /// Layer `l`'s weights (after `update`).
    public func layer(_ l: Int) -> PackedLayer {
        let c = layout.config, h = c.hidden, gh = c.cell.gateCount * h, inDim = c.layerInputSize(l)
        let s = slots[l]
        return PackedLayer(
            format: format, gates: gates, inputT: matrix(s.inputT, k: inDim, n: gh), hiddenT: matrix(s.hiddenT, k: h, n: gh),
            input: matrix(s.input, k: gh, n: inDim), hidden: matrix(s.hidden, k: gh, n: h),
            stackedT: matrix(s.stackedT, k: inDim + h, n: gh),
            hiddenPanels: vector(s.hiddenPanels), inputPanels: vector(s.inputPanels),
            stackedPanels: vector(s.stackedPanels),
            biasSum: vector(s.biasSum), biasIH: vector(s.biasIH), biasHH: vector(s.biasHH))
    }

    /// Floats this object allocated.
    public var allocatedFloats: Int { block.floats }

    /// W_d^T [H x out] (forward, stacked and stepwise forms).
    public var denseT: PackedMatrix { matrix(denseTSlot, k: layout.config.hidden, n: layout.config.outputSize) }
    /// W_d [out x H] (backward form).
    public var dense: PackedMatrix { matrix(denseSlot, k: layout.config.outputSize, n: layout.config.hidden) }
    /// The Dense bias in the parameter buffer.
    public var denseBias: UnsafePointer<Float> { (params ?? UnsafePointer(Self.none)) + layout.denseBias.offset }

    /// Packs `which` of this object's forms (all by default) from `params`: once per parameter version.
    public func update(from params: UnsafePointer<Float>, _ which: PackedForms? = nil) {
        self.params = params
        let which = (which ?? forms).intersection(forms)
        let c = layout.config, gh = c.cell.gateCount * c.hidden, h = c.hidden, grouped = !gates.isStandard
        for (l, v) in layout.layers.enumerated() {
            let w = layer(l), s = slots[l], inDim = c.layerInputSize(l)
            let ih = params + v.weightIHt.offset, hh = params + v.weightHHt.offset
            if which.contains(.forward) {
                if let scratch = scratchSlot.map({ block[$0] }) {
                    // The input projection's output columns come out grouped when its B's are.
                    gates.permuteColumns(k: inDim, ih, rowStride: gh, into: scratch)
                    w.inputT.pack(scratch, rowStride: gh)
                } else {
                    w.inputT.pack(ih, rowStride: gh)
                }
                if grouped, let p = s.hiddenPanels { gates.packPanels(k: h, hh, rowStride: gh, into: block[p]) }
                if !grouped { w.hiddenT.pack(hh, rowStride: gh) }
            }
            if which.contains(.backward) {
                w.input.pack(ih, rowStride: 1, colStride: gh)
                w.hidden.pack(hh, rowStride: 1, colStride: gh)
            }
            if which.contains(.stacked) {
                if grouped, let p = s.stackedPanels {
                    gates.packPanels(k: inDim, ih, rowStride: gh, rowOffset: 0, totalK: inDim + h, into: block[p])
                    gates.packPanels(k: h, hh, rowStride: gh, rowOffset: inDim, totalK: inDim + h, into: block[p])
                } else {
                    w.stackedT.rows(0..<inDim).pack(ih, rowStride: gh)
                    w.stackedT.rows(inDim..<(inDim + h)).pack(hh, rowStride: gh)
                }
            }
            if which.contains(.stepwise) {
                if grouped, let pi = s.inputPanels, let ph = s.hiddenPanels {
                    gates.packPanels(k: inDim, ih, rowStride: gh, into: block[pi])
                    gates.packPanels(k: h, hh, rowStride: gh, into: block[ph])
                } else if !grouped {
                    w.inputT.pack(ih, rowStride: gh)
                    w.hiddenT.pack(hh, rowStride: gh)
                }
            }
            if let sum = s.biasSum, let bi = s.biasIH, let bh = s.biasHH, !which.isDisjoint(with: [.forward, .stacked, .stepwise]) {
                // b_ih + b_hh summed in PyTorch's order, then all three put in the gates' order.
                let total = block[sum]
                gates.permute(params + v.biasIH.offset, into: block[bi])
                gates.permute(params + v.biasHH.offset, into: block[bh])
                for j in 0..<gh { total[j] = block[bi][j] + block[bh][j] }
            }
        }
        let d = layout.denseWeightT
        if !which.isDisjoint(with: [.forward, .stacked, .stepwise]) { denseT.pack(params + d.offset, rowStride: d.cols) }
        if which.contains(.backward) { dense.pack(params + d.offset, rowStride: 1, colStride: d.cols) }
    }
}
