import PatchRNNKernels

// The workspaces are not generic over the cell (a model's cell is chosen at run time); they
// hold their cell's buffers through these two objects, which are, and which call the cell with
// its own buffer types.

/// A cell's training buffers for every layer of a block workspace, and the calls into the cell.
protocol TrainingCellLayers: AnyObject {
    /// Where layer l's input projection of every step goes before `forward`.
    func inputProjection(layer l: Int) -> UnsafeMutablePointer<Float>
    func forward(
        layer l: Int, h: UnsafeMutablePointer<Float>, rows: BlockRows, steps: Range<Int>, shape: LayerShape,
        weights: PackedLayer)
    func backward(
        layer l: Int, h: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>, rows: BlockRows, shape: LayerShape,
        weights: PackedLayer
    ) -> ProjectionGradients
}

final class CellTrainingLayers<C: RecurrentCell>: TrainingCellLayers {
    let forwardBuffers: [C.Forward]
    /// Backward's scratch (shared by the layers: sized from layer 0's shape, so it may depend
    /// on the rows and the hidden size, not on the input size); nil in a forward-only workspace.
    let scratch: C.BackwardScratch?

    init(_ d: inout BufferDeclarations, config: ModelConfig, rows: Int, backward: Bool) {
        var forward: [C.Forward] = []
        for l in 0..<config.layers {
            d.scope = "layer \(l): "
            forward.append(C.Forward(&d, shape: config.layerShape(l, rows: rows)))
        }
        d.scope = "backward: "
        scratch = backward ? C.BackwardScratch(&d, shape: config.layerShape(0, rows: rows)) : nil
        d.scope = ""
        forwardBuffers = forward
    }

    func inputProjection(layer l: Int) -> UnsafeMutablePointer<Float> { forwardBuffers[l].inputProjection }

    func forward(
        layer l: Int, h: UnsafeMutablePointer<Float>, rows: BlockRows, steps: Range<Int>, shape: LayerShape,
        weights: PackedLayer
    ) {
        C.forward(forwardBuffers[l], h: h, rows: rows, steps: steps, shape: shape, weights: weights)
    }

    func backward(
        layer l: Int, h: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>, rows: BlockRows, shape: LayerShape,
        weights: PackedLayer
    ) -> ProjectionGradients {
        guard let scratch else { preconditionFailure("backward in a forward-only workspace") }
        return C.backward(forwardBuffers[l], scratch: scratch, h: h, dhAbove: dhAbove, rows: rows, shape: shape, weights: weights)
    }
}

/// Declares `cell`'s training buffers for a block of `rows` rows.
func declareTrainingLayers(
    _ cell: any RecurrentCell.Type, _ d: inout BufferDeclarations, config: ModelConfig, rows: Int,
    backward: Bool
) -> any TrainingCellLayers {
    func make<C: RecurrentCell>(_: C.Type) -> any TrainingCellLayers {
        CellTrainingLayers<C>(&d, config: config, rows: rows, backward: backward)
    }
    return make(cell)
}

/// A cell's generation buffers for every layer of a generation workspace, and the calls into it.
protocol GenerationCellLayers: AnyObject {
    /// Where layer l's input x_t goes, and the floats from one row to the next.
    func input(layer l: Int) -> (UnsafeMutablePointer<Float>, stride: Int)
    /// Where the last step left h_t, and the floats from one row to the next.
    var output: (UnsafeMutablePointer<Float>, stride: Int) { get }
    func reset(layer l: Int, rows: Int, shape: LayerShape)
    func step(layer l: Int, rows: Int, shape: LayerShape, weights: PackedLayer)
}

final class CellGenerationLayers<C: RecurrentCell>: GenerationCellLayers {
    let states: [C.GenerationState]
    /// Shared by the layers (a worker's generation buffers and weights should stay in its share
    /// of the L2 cache): sized from layer 0's shape, so it may not depend on the input size.
    let scratch: C.GenerationScratch

    init(_ d: inout BufferDeclarations, config: ModelConfig, rows: Int) {
        var states: [C.GenerationState] = []
        for l in 0..<config.layers {
            d.scope = "layer \(l): "
            states.append(C.GenerationState(&d, shape: config.layerShape(l, rows: rows)))
        }
        d.scope = "step: "
        scratch = C.GenerationScratch(&d, shape: config.layerShape(0, rows: rows))
        d.scope = ""
        self.states = states
    }

    func input(layer l: Int) -> (UnsafeMutablePointer<Float>, stride: Int) { (states[l].input, states[l].inputStride) }
    var output: (UnsafeMutablePointer<Float>, stride: Int) { (scratch.output, scratch.outputStride) }

    func reset(layer l: Int, rows: Int, shape: LayerShape) { C.generationReset(states[l], rows: rows, shape: shape) }

    func step(layer l: Int, rows: Int, shape: LayerShape, weights: PackedLayer) {
        C.generationStep(states[l], scratch: scratch, rows: rows, shape: shape, weights: weights)
    }
}

/// Declares `cell`'s generation buffers for chunks of up to `rows` rows.
func declareGenerationLayers(
    _ cell: any RecurrentCell.Type, _ d: inout BufferDeclarations, config: ModelConfig,
    rows: Int
) -> any GenerationCellLayers {
    func make<C: RecurrentCell>(_: C.Type) -> any GenerationCellLayers { CellGenerationLayers<C>(&d, config: config, rows: rows) }
    return make(cell)
}
