import PatchRNNKernels

/// The shape of one recurrent layer as a cell sees it: `rows` sequences (a block's or a
/// generation chunk's capacity) over `steps` time steps, `input` floats in, `hidden` out.
public struct LayerShape: Sendable, Equatable {
    public var steps: Int
    public var rows: Int
    public var input: Int
    public var hidden: Int
    public init(steps: Int, rows: Int, input: Int, hidden: Int) {
        self.steps = steps
        self.rows = rows
        self.input = input
        self.hidden = hidden
    }
}

/// A kind of recurrent cell (LSTM, GRU): everything about the model that depends on the cell.
/// The rest of the library sees only this interface: the parameter layout takes the gate
/// count and the checkpoint names from it, the block workspace calls its recurrence between
/// the products it makes for every cell (the input projection of all steps, the Dense layer,
/// the weight gradients), the generator calls its step, and the memory estimate reads the
/// sizes of the buffers it declares. A new cell is one file implementing this protocol, its
/// kernels, and its line in `Cells.all`.
///
/// Buffers: a cell declares, per layer, the buffers its forward keeps for backward
/// (`Forward`), the scratch its backward uses (`BackwardScratch`, shared by the layers), the
/// state of generation (`GenerationState`) and its scratch (`GenerationScratch`), each as a
/// struct of named pointers whose initialiser declares every buffer once, with its size
/// (`CellBuffers`). The workspaces allocate them in one block and a test checks that no step
/// writes outside them.
///
/// Conventions shared with the workspaces:
/// - Weights as PyTorch names them: `<name>.weight_ih_l<k>` [G*H x in], `weight_hh` [G*H x H],
///   `bias_ih`, `bias_hh` [G*H], G = `gateCount`, stored transposed (in x G*H) in the flat
///   parameter buffer and packed for the products by `PackedWeights` (the forward forms with
///   the gate columns grouped: `GateLayout`).
/// - Hidden states h are [(steps+1)*rows x H], block 0 = h_0 = 0 (zeroed by the workspace).
public protocol RecurrentCell: Sendable {
    /// The `--cell` value, the prefix of the checkpoint names, the name in the metadata.
    static var name: String { get }
    /// For people: "LSTM".
    static var title: String { get }
    /// Gate blocks in the projections (LSTM 4: i, f, g, o; GRU 3: r, z, n).
    static var gateCount: Int { get }
    /// The gate order of the projections, as recorded in the checkpoint metadata.
    static var gateOrder: String { get }
    /// Multiply-adds of one layer's forward step for one sequence (FLOP counts).
    static func multiplyAddsPerStep(input: Int, hidden: Int) -> Int

    // MARK: Training (rows = the block capacity)

    associatedtype Forward: CellForwardBuffers
    associatedtype BackwardScratch: CellBuffers

    /// The recurrence of one layer over `steps` (all of them, or consecutive ranges from 0 in
    /// order: scheduled sampling runs the fed-back steps one at a time) for the block's
    /// `rows`: reads the input projection of those steps (`Forward.inputProjection`, which the
    /// workspace fills), writes their h_{t+1} into `h` and whatever backward needs. The
    /// per-step products go through `rows.gemm` or `rows.forEachRun`, so each row's result
    /// does not depend on the block it is in.
    static func forward(
        _ buffers: Forward, h: UnsafeMutablePointer<Float>, rows: BlockRows,
        steps: Range<Int>, shape: LayerShape, weights: PackedLayer)
    /// Backward through the recurrence, from dL/dh_t of every step as it comes from above
    /// ([steps*n x H], n = rows.count): the gradients of the input projection (x W_ih^T + b_ih)
    /// and of the hidden projection (h W_hh^T + b_hh) of every step, [steps*n x G*H], from which
    /// the workspace makes the weight and bias gradients and dL/dx.
    static func backward(
        _ buffers: Forward, scratch: BackwardScratch, h: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>,
        rows: BlockRows, shape: LayerShape, weights: PackedLayer
    ) -> ProjectionGradients

    // MARK: Generation (rows = the chunk capacity, one step at a time)

    associatedtype GenerationState: CellGenerationState
    associatedtype GenerationScratch: CellGenerationScratch

    /// The packed weight forms `generationStep` reads.
    static var generationForms: PackedForms { get }
    /// The gate order generation packs those forms in: grouped (each layer's step one fused
    /// kernel, products and cell update in registers) or PyTorch's (the products as GEMMs,
    /// then the cell kernel). Both give the same bits; the choice is the faster one measured.
    /// `PATCHRNN_GENERATION_GATES=grouped|standard` overrides it, to measure another CPU.
    static var generationGateOrder: GateOrder { get }
    /// Sets the state of the first `n` rows to zero (h_0 = 0, and the cell's own state).
    static func generationReset(_ state: GenerationState, rows n: Int, shape: LayerShape)
    /// One step of the first `n` rows: x_t (`state.input`) and the state in; h_t
    /// (`scratch.output`) and the state out.
    static func generationStep(
        _ state: GenerationState, scratch: GenerationScratch, rows n: Int,
        shape: LayerShape, weights: PackedLayer)
}

/// A struct of named buffers (pointers into a workspace's one allocation). Its initialiser
/// declares each buffer once, with its size for `shape`: the same declarations plan the
/// allocation and the memory estimate, and bind the pointers.
public protocol CellBuffers {
    init(_ declarations: inout BufferDeclarations, shape: LayerShape)
}

/// A cell's forward buffers, one of which holds the input projection x W_ih^T of every step,
/// [steps*rows x G*H] time-major (gate columns in the packed weights' order), filled by the
/// workspace before `forward`.
public protocol CellForwardBuffers: CellBuffers {
    var inputProjection: UnsafeMutablePointer<Float> { get }
}

/// A cell's generation state: where the layer's input x_t goes, one row per sequence,
/// `inputStride` floats apart.
public protocol CellGenerationState: CellBuffers {
    var input: UnsafeMutablePointer<Float> { get }
    var inputStride: Int { get }
}

/// A cell's generation scratch: where a step leaves h_t, `outputStride` floats a row (valid
/// until the next layer's step).
public protocol CellGenerationScratch: CellBuffers {
    var output: UnsafeMutablePointer<Float> { get }
    var outputStride: Int { get }
}

/// What backward gives for a layer: the gradients of its two projections, [steps*n x G*H].
public enum ProjectionGradients {
    /// One buffer for both: the projections are added before any nonlinearity (LSTM), so
    /// their gradients are the same.
    case shared(UnsafePointer<Float>)
    /// Two buffers: the gradient of the input projection and of the hidden one differ (GRU:
    /// the reset gate scales the hidden part of n).
    case separate(input: UnsafePointer<Float>, hidden: UnsafePointer<Float>)

    public var input: UnsafePointer<Float> {
        switch self {
        case .shared(let g): return g
        case .separate(let input, _): return input
        }
    }

    public var hidden: UnsafePointer<Float> {
        switch self {
        case .shared(let g): return g
        case .separate(_, let hidden): return hidden
        }
    }
}

/// The cells `--cell` can name.
public enum Cells {
    /// Registration: one line per cell.
    public static let all: [any RecurrentCell.Type] = [
        LSTMCell.self,
        GRUCell.self,
    ]

    public static var names: [String] { all.map { $0.name } }

    /// The registered cell of that name (`LSTMCell.name` is "lstm"), or nil.
    public static func named(_ name: String) -> (any RecurrentCell.Type)? {
        all.first { $0.name == name }
    }

    /// The cell a user named, or an error listing the ones there are.
    /// - Parameter name: A cell's name ("lstm", "gru").
    /// - Returns: The cell's type, for `ModelConfig(cell:)`.
    /// - Throws: `PatchRNNError` about the setting `cell`, listing the names there are.
    public static func resolve(_ name: String) throws -> any RecurrentCell.Type {
        guard let cell = named(name) else {
            throw PatchRNNError.setting(.cell, "must be one of \(names.joined(separator: ", ")) (got \(name))")
        }
        return cell
    }

    /// Checks a cell the user named against the one a checkpoint holds.
    public static func check(requested: String?, against config: ModelConfig, file: String) throws {
        guard let requested, requested != config.cellName else { return }
        _ = try resolve(requested)
        throw PatchRNNError.setting(
            .cell, "\(requested) contradicts \(file), which holds a \(config.cell.title) model (leave --cell out to use the checkpoint's)")
    }
}
