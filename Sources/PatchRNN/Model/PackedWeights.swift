import PatchRNNKernels

/// The weight forms a workspace packs from the parameters.
public struct PackedForms: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// W_ih^T, W_hh^T, W_d^T and b_ih + b_hh: the forward GEMMs of training and evaluation.
    public static let forward = PackedForms(rawValue: 1)
    /// W_ih, W_hh, W_d (the stored matrices read transposed): backward's dG W and dY W.
    public static let backward = PackedForms(rawValue: 2)
    /// [W_ih^T ; W_hh^T] stacked along k, W_d^T and b_ih + b_hh: one GEMM per layer and step
    /// over [x | h] (generation with a cell whose projections are simply added).
    public static let stacked = PackedForms(rawValue: 4)
}

/// One layer's packed weights (forms that were not packed are empty, 0 x 0) and its biases,
/// all copies taken by the last `PackedWeights.update`.
public struct PackedLayer: @unchecked Sendable {
    public let inputT: PackedMatrix     // W_ih^T [in x G*H]
    public let hiddenT: PackedMatrix    // W_hh^T [H x G*H]
    public let input: PackedMatrix      // W_ih [G*H x in]
    public let hidden: PackedMatrix     // W_hh [G*H x H]
    public let stackedT: PackedMatrix   // [W_ih^T ; W_hh^T] [(in + H) x G*H]
    public let biasSum: UnsafePointer<Float>   // b_ih + b_hh [G*H]
    public let biasIH: UnsafePointer<Float>    // b_ih [G*H]
    public let biasHH: UnsafePointer<Float>    // b_hh [G*H]
}

/// The one place weights are packed for the GEMMs: every form the workspaces use, packed from
/// the flat parameter buffer once per parameter version. The panel format comes from the GEMM
/// tile (`PanelFormat`), so a second tile shape changes nothing here but the format.
public final class PackedWeights: @unchecked Sendable {
    public let layout: ParameterLayout
    public let forms: PackedForms
    public let format: PanelFormat
    private let block: BufferBlock
    private let slots: [LayerSlots]
    private let denseTSlot: Int?, denseSlot: Int?
    private var params: UnsafePointer<Float>?
    /// An empty matrix for the forms that were not packed.
    private nonisolated(unsafe) static let none: UnsafeMutablePointer<Float> = {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        p.initialize(repeating: 0, count: 16)
        return p
    }()

    struct LayerSlots { var inputT, hiddenT, input, hidden, stackedT, biasSum, biasIH, biasHH: Int? }

    /// The plan of the buffers for these forms (also what the memory estimate counts).
    static func plan(_ layout: ParameterLayout, forms: PackedForms, format: PanelFormat)
        -> (BufferPlan, [LayerSlots], denseT: Int?, dense: Int?)
    {
        var plan = BufferPlan()
        let c = layout.config, h = c.hidden, gh = c.cell.gateCount * h
        let slots = (0..<c.layers).map { l -> LayerSlots in
            let inDim = c.layerInputSize(l)
            var s = LayerSlots()
            if forms.contains(.forward) {
                s.inputT = plan.add(format.floats(k: inDim, n: gh))
                s.hiddenT = plan.add(format.floats(k: h, n: gh))
            }
            if forms.contains(.backward) {
                s.input = plan.add(format.floats(k: gh, n: inDim))
                s.hidden = plan.add(format.floats(k: gh, n: h))
            }
            if forms.contains(.stacked) { s.stackedT = plan.add(format.floats(k: inDim + h, n: gh)) }
            if !forms.isDisjoint(with: [.forward, .stacked]) {
                s.biasSum = plan.add(gh)
                s.biasIH = plan.add(gh)
                s.biasHH = plan.add(gh)
            }
            return s
        }
        let denseT = forms.isDisjoint(with: [.forward, .stacked]) ? nil : plan.add(format.floats(k: h, n: c.outputSize))
        let dense = forms.contains(.backward) ? plan.add(format.floats(k: c.outputSize, n: h)) : nil
        return (plan, slots, denseT, dense)
    }

    public static func floats(_ layout: ParameterLayout, forms: PackedForms, format: PanelFormat = .preferred) -> Int {
        plan(layout, forms: forms, format: format).0.floats
    }

    public init(layout: ParameterLayout, forms: PackedForms, format: PanelFormat = .preferred) {
        self.layout = layout
        self.forms = forms
        self.format = format
        let (plan, slots, denseT, dense) = Self.plan(layout, forms: forms, format: format)
        block = BufferBlock(plan)
        self.slots = slots
        denseTSlot = denseT
        denseSlot = dense
    }

    private func matrix(_ slot: Int?, k: Int, n: Int) -> PackedMatrix {
        guard let slot else { return PackedMatrix(base: Self.none, k: 0, n: 0, format: format) }
        return PackedMatrix(base: block[slot], k: k, n: n, format: format)
    }

    /// Layer `l`'s weights (after `update`).
    public func layer(_ l: Int) -> PackedLayer {
        let c = layout.config, h = c.hidden, gh = c.cell.gateCount * h, inDim = c.layerInputSize(l)
        let s = slots[l]
        func vector(_ slot: Int?) -> UnsafePointer<Float> { UnsafePointer(slot.map { block[$0] } ?? Self.none) }
        return PackedLayer(inputT: matrix(s.inputT, k: inDim, n: gh), hiddenT: matrix(s.hiddenT, k: h, n: gh),
                           input: matrix(s.input, k: gh, n: inDim), hidden: matrix(s.hidden, k: gh, n: h),
                           stackedT: matrix(s.stackedT, k: inDim + h, n: gh),
                           biasSum: vector(s.biasSum), biasIH: vector(s.biasIH), biasHH: vector(s.biasHH))
    }

    /// Floats this object allocated.
    public var allocatedFloats: Int { block.floats }

    /// W_d^T [H x out] (forward and stacked forms).
    public var denseT: PackedMatrix { matrix(denseTSlot, k: layout.config.hidden, n: layout.config.outputSize) }
    /// W_d [out x H] (backward form).
    public var dense: PackedMatrix { matrix(denseSlot, k: layout.config.outputSize, n: layout.config.hidden) }
    /// The Dense bias in the parameter buffer.
    public var denseBias: UnsafePointer<Float> { (params ?? UnsafePointer(Self.none)) + layout.denseBias.offset }

    /// Packs `which` of this object's forms (all by default) from `params`: once per parameter version.
    public func update(from params: UnsafePointer<Float>, _ which: PackedForms? = nil) {
        self.params = params
        let which = (which ?? forms).intersection(forms)
        let c = layout.config, gh = c.cell.gateCount * c.hidden
        for (l, v) in layout.layers.enumerated() {
            let w = layer(l)
            let ih = params + v.weightIHt.offset, hh = params + v.weightHHt.offset
            if which.contains(.forward) {
                w.inputT.pack(ih, rowStride: gh)
                w.hiddenT.pack(hh, rowStride: gh)
            }
            if which.contains(.backward) {
                w.input.pack(ih, rowStride: 1, colStride: gh)
                w.hidden.pack(hh, rowStride: 1, colStride: gh)
            }
            if which.contains(.stacked) {
                let inDim = c.layerInputSize(l)
                w.stackedT.rows(0..<inDim).pack(ih, rowStride: gh)
                w.stackedT.rows(inDim..<(inDim + c.hidden)).pack(hh, rowStride: gh)
            }
            if let s = slots[l].biasSum, let i = slots[l].biasIH, let h = slots[l].biasHH, !which.isDisjoint(with: [.forward, .stacked]) {
                let sum = block[s]
                for j in 0..<gh { sum[j] = params[v.biasIH.offset + j] + params[v.biasHH.offset + j] }
                block[i].update(from: params + v.biasIH.offset, count: gh)
                block[h].update(from: params + v.biasHH.offset, count: gh)
            }
        }
        let d = layout.denseWeightT
        if !which.isDisjoint(with: [.forward, .stacked]) { denseT.pack(params + d.offset, rowStride: d.cols) }
        if which.contains(.backward) { dense.pack(params + d.offset, rowStride: 1, colStride: d.cols) }
    }
}
