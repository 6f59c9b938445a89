import PatchRNNKernels

/// Per-worker buffers for generating up to `capacity` sequences at once, one step at a time,
/// for any cell: the workspace feeds layer 0 (the true patch, or the previous clipped
/// prediction), passes each layer's h_t to the next layer, and runs the Dense layer; the cell
/// does the layer's step (`RecurrentCell.generationStep`). One allocation, laid out by `plan`.
public final class GenerationWorkspace: @unchecked Sendable {
    let layout: ParameterLayout
    let capacity: Int
    /// The one allocation all the buffers below are in (tests fill its gaps with guard values).
    let storage: BufferBlock
    /// The cell's state of every layer and its step's scratch, typed by the cell.
    let cellLayers: any GenerationCellLayers
    let y: UnsafeMutablePointer<Float>
    let weights: PackedWeights
    let shapes: [LayerShape]
    private var packedLayers: [PackedLayer] = []

    /// The buffers, each declared once with its size (as `BlockWorkspace.Buffers`).
    struct Buffers {
        let cell: any GenerationCellLayers
        let y: UnsafeMutablePointer<Float>
        init(_ d: inout BufferDeclarations, config c: ModelConfig, capacity: Int) {
            cell = declareGenerationLayers(c.cell, &d, config: c, rows: capacity)
            y = d.buffer("outputs", capacity * c.outputSize)
        }
    }

    /// Floats one workspace allocates (its buffers and its packed weights).
    public static func floats(
        _ layout: ParameterLayout, capacity: Int, format: PanelFormat = .preferred,
        gateOrder: GateOrder? = nil
    ) -> Int {
        var planning = BufferDeclarations.planning()
        _ = Buffers(&planning, config: layout.config, capacity: capacity)
        let order = gateOrder ?? defaultGateOrder(layout.config.cell)
        return planning.plan.floats
            + PackedWeights.floats(layout, forms: layout.config.cell.generationForms, format: format, gateOrder: order)
    }

    /// The gate order generation uses unless told: `PATCHRNN_GENERATION_GATES` (grouped or
    /// standard) where set, else the cell's `generationGateOrder`.
    public static func defaultGateOrder(_ cell: any RecurrentCell.Type) -> GateOrder {
        GateOrder.forcedForGeneration ?? cell.generationGateOrder
    }

    /// How generation runs a layer's step for `cell`, for people: "fused step" or "products
    /// and cell kernel apart", and whether `PATCHRNN_GENERATION_GATES` chose it.
    public static func stepDescription(_ cell: any RecurrentCell.Type) -> String {
        let how = defaultGateOrder(cell) == .grouped ? "fused step" : "products and cell kernel apart"
        return GateOrder.forcedForGeneration == nil ? how : how + ", set by PATCHRNN_GENERATION_GATES"
    }

    /// `gateOrder`: grouped (each layer's step one fused kernel) or PyTorch's; nil: the
    /// default above. `guardFloats`: the gap between buffers (tests widen it and fill it with
    /// guard values).
    public init(
        layout: ParameterLayout, capacity: Int, format: PanelFormat = .preferred, gateOrder: GateOrder? = nil,
        guardFloats: Int = 16
    ) {
        self.layout = layout
        self.capacity = capacity
        var planning = BufferDeclarations.planning(gap: guardFloats)
        _ = Buffers(&planning, config: layout.config, capacity: capacity)
        storage = BufferBlock(planning.plan, what: "a worker's generation buffers")
        var binding = BufferDeclarations.binding(storage)
        let b = Buffers(&binding, config: layout.config, capacity: capacity)
        cellLayers = b.cell
        y = b.y
        weights = PackedWeights(
            layout: layout, forms: layout.config.cell.generationForms, format: format,
            gateOrder: gateOrder ?? Self.defaultGateOrder(layout.config.cell))
        shapes = (0..<layout.config.layers).map { layout.config.layerShape($0, rows: capacity) }
    }

    /// Floats this workspace allocated (its buffers and its packed weights).
    public var allocatedFloats: Int { storage.floats + weights.allocatedFloats }

    /// Once per parameter version: packs the weights the cell's step reads.
    public func prepare(_ params: UnsafePointer<Float>) {
        weights.update(from: params)
        packedLayers = (0..<layout.config.layers).map { weights.layer($0) }
    }

    /// Writes the 8 generated patches of each sequence to out[b * 8 * 49 ...].
    public func generate(
        _ params: UnsafePointer<Float>, _ data: PatchSet, _ indices: UnsafeBufferPointer<Int>,
        into out: UnsafeMutablePointer<Float>
    ) {
        let n = indices.count
        precondition(n <= capacity)
        let c = layout.config, h = c.hidden, d = c.inputSize, od = c.outputSize
        let top = Patches.topHalf, perImage = (Patches.count - top) * od
        let layers = packedLayers
        for l in 0..<c.layers { cellLayers.reset(layer: l, rows: n, shape: shapes[l]) }
        let (x0, x0Stride) = cellLayers.input(layer: 0)
        for t in 0..<(Patches.count - 1) {
            // Layer 0's input: the true patch t, or the previous (clipped) prediction.
            for b in 0..<n {
                let source = t < top ? data.sequence(indices[b]) + t * d : UnsafePointer(y + b * od)
                (x0 + b * x0Stride).update(from: source, count: d)
            }
            for l in 0..<c.layers {
                cellLayers.step(layer: l, rows: n, shape: shapes[l], weights: layers[l])
                if l + 1 < c.layers {  // h_t is the next layer's input
                    let (hOut, oStride) = cellLayers.output, (next, nextStride) = cellLayers.input(layer: l + 1)
                    for b in 0..<n { (next + b * nextStride).update(from: hOut + b * oStride, count: h) }
                }
            }
            // Outputs before the last true patch are not used: the Dense layer runs from there on.
            if t >= top - 1 {
                let (hOut, oStride) = cellLayers.output
                gemm(m: n, a: hOut, aRowStride: oStride, b: weights.denseT, c: y, ldc: od, accumulate: false)
                addBiasRows(y, rows: n, cols: od, bias: params + layout.denseBias.offset)
                // A generated patch is an image patch: pixels outside [0, 1] cannot be right,
                // so they are clipped both in the output and in what is fed back.
                clampInPlace(y, count: n * od, 0, 1)
                let k = t - (top - 1)
                for b in 0..<n { (out + b * perImage + k * od).update(from: y + b * od, count: od) }
            }
        }
    }
}
