import PatchRNNKernels

/// Per-worker buffers for generating up to `capacity` sequences at once, one step at a time,
/// for any cell: the workspace feeds layer 0 (the true patch, or the previous clipped
/// prediction), passes each layer's h_t to the next layer, and runs the Dense layer; the cell
/// does the layer's step (`RecurrentCell.generationStep`). One allocation, laid out by `plan`.
public final class GenerationWorkspace: @unchecked Sendable {
    let layout: ParameterLayout
    let capacity: Int
    let cell: any RecurrentCell.Type
    private let block: BufferBlock
    let layerBuffers: [[UnsafeMutablePointer<Float>]]
    let scratch: [UnsafeMutablePointer<Float>]
    let y: UnsafeMutablePointer<Float>
    let weights: PackedWeights
    let shapes: [LayerShape]
    private var packedLayers: [PackedLayer] = []

    struct Buffers {
        var plan = BufferPlan()
        var layers: [[Int]] = [], scratch: [Int] = []
        var y = 0
        init(_ c: ModelConfig, capacity: Int) {
            for l in 0..<c.layers { layers.append(plan.add(c.cell.generationBuffers(c.layerShape(l, rows: capacity)))) }
            scratch = plan.add(c.cell.generationScratch(c.layerShape(0, rows: capacity)))
            y = plan.add(capacity * c.outputSize)
        }
    }

    /// Floats one workspace allocates (its buffers and its packed weights).
    public static func floats(_ layout: ParameterLayout, capacity: Int, format: PanelFormat = .preferred,
                              gateOrder: GateOrder = .grouped) -> Int {
        Buffers(layout.config, capacity: capacity).plan.floats
            + PackedWeights.floats(layout, forms: layout.config.cell.generationForms, format: format, gateOrder: gateOrder)
    }

    /// `gateOrder`: grouped (each layer's step one fused kernel) or PyTorch's (for tests).
    public init(layout: ParameterLayout, capacity: Int, format: PanelFormat = .preferred, gateOrder: GateOrder = .grouped) {
        self.layout = layout
        self.capacity = capacity
        cell = layout.config.cell
        let b = Buffers(layout.config, capacity: capacity)
        let block = BufferBlock(b.plan)
        self.block = block
        layerBuffers = b.layers.map { block.pointers($0) }
        scratch = block.pointers(b.scratch)
        y = block[b.y]
        weights = PackedWeights(layout: layout, forms: cell.generationForms, format: format, gateOrder: gateOrder)
        shapes = (0..<layout.config.layers).map { layout.config.layerShape($0, rows: capacity) }
    }

    /// Floats this workspace allocated (its buffers and its packed weights).
    public var allocatedFloats: Int { block.floats + weights.allocatedFloats }

    /// Once per parameter version: packs the weights the cell's step reads.
    public func prepare(_ params: UnsafePointer<Float>) {
        weights.update(from: params)
        packedLayers = (0..<layout.config.layers).map { weights.layer($0) }
    }

    /// Writes the 8 generated patches of each sequence to out[b * 8 * 49 ...].
    public func generate(_ params: UnsafePointer<Float>, _ data: PatchSet, _ indices: UnsafeBufferPointer<Int>,
                         into out: UnsafeMutablePointer<Float>) {
        let n = indices.count
        precondition(n <= capacity)
        let c = layout.config, h = c.hidden, d = c.inputSize, od = c.outputSize
        let top = Patches.topHalf, perImage = (Patches.count - top) * od
        let layers = packedLayers
        for l in 0..<c.layers { cell.generationReset(layerBuffers[l], rows: n, shape: shapes[l]) }
        let x0 = layerBuffers[0][0], x0Stride = cell.generationInputStride(shapes[0])
        for t in 0..<(Patches.count - 1) {
            // Layer 0's input: the true patch t, or the previous (clipped) prediction.
            for b in 0..<n {
                let source = t < top ? data.sequence(indices[b]) + t * d : UnsafePointer(y + b * od)
                (x0 + b * x0Stride).update(from: source, count: d)
            }
            for l in 0..<c.layers {
                cell.generationStep(layerBuffers[l], scratch: scratch, rows: n, shape: shapes[l], weights: layers[l])
                if l + 1 < c.layers {  // h_t is the next layer's input
                    let (o, oStride) = cell.generationOutput(shapes[l])
                    let hOut = scratch[o], next = layerBuffers[l + 1][0], nextStride = cell.generationInputStride(shapes[l + 1])
                    for b in 0..<n { (next + b * nextStride).update(from: hOut + b * oStride, count: h) }
                }
            }
            // Outputs before the last true patch are not used: the Dense layer runs from there on.
            if t >= top - 1 {
                let (o, oStride) = cell.generationOutput(shapes[c.layers - 1])
                gemm(m: n, a: scratch[o], aRowStride: oStride, b: weights.denseT, c: y, ldc: od, accumulate: false)
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
