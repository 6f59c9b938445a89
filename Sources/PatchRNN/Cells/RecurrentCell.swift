import PatchRNNKernels

/// The shape of one recurrent layer as a cell sees it: `rows` sequences (a shard's or a
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
/// count and the checkpoint names from it, the shard workspace calls its recurrence between
/// the GEMMs it does for every cell (the input projection of all steps, the Dense layer, the
/// weight gradients), the generator calls its step, and the memory estimate reads its buffer
/// sizes. A new cell is one file implementing this protocol plus its line in `Cells.all`.
///
/// Conventions shared with the workspaces:
/// - Weights as PyTorch names them: `<name>.weight_ih_l<k>` [G*H x in], `weight_hh` [G*H x H],
///   `bias_ih`, `bias_hh` [G*H], G = `gateCount`, stored transposed (in x G*H) in the flat
///   parameter buffer and packed for the GEMMs by `PackedWeights`.
/// - Training buffers are lists of sizes (floats); the workspace allocates them in one block
///   and hands the cell their pointers in the same order. Forward buffer 0 is the input
///   projection x W_ih^T of all steps, [steps*rows x G*H] time-major (row t*n + b), which the
///   workspace fills before `forward`.
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

    // MARK: Training (rows = the shard capacity)

    /// Floats of each buffer one layer's forward keeps for backward (buffer 0: the input projection).
    static func forwardBuffers(_ s: LayerShape) -> [Int]
    /// Floats of each scratch buffer of backward, shared by all layers of a workspace (sized
    /// from layer 0's shape: scratch may depend on rows and hidden size, not on the input size).
    static func backwardBuffers(_ s: LayerShape) -> [Int]
    /// The recurrence of one layer over `steps` (all of them, or consecutive ranges from 0 in
    /// order: scheduled sampling runs the fed-back steps one at a time) for the block's
    /// `rows`: reads the input projection (buffer 0) of those steps, writes their h_{t+1} into
    /// `h` and whatever backward needs. The per-step products go through `rows.gemm`, so each
    /// row's result does not depend on the block it is in.
    static func forward(_ buffers: [UnsafeMutablePointer<Float>], h: UnsafeMutablePointer<Float>, rows: BlockRows,
                        steps: Range<Int>, shape: LayerShape, weights: PackedLayer)
    /// Backward through the recurrence, from dL/dh_t of every step as it comes from above
    /// ([steps*n x H], n = rows.count). Returns the gradients of the input projection (x W_ih^T + b_ih) and of
    /// the hidden projection (h W_hh^T + b_hh) of every step, [steps*n x G*H] each (the same
    /// buffer where the two are added before any nonlinearity, as in the LSTM); the workspace
    /// turns them into weight and bias gradients and into dL/dx.
    static func backward(_ buffers: [UnsafeMutablePointer<Float>], scratch: [UnsafeMutablePointer<Float>],
                         h: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>, rows: BlockRows,
                         shape: LayerShape, weights: PackedLayer) -> (dInput: UnsafePointer<Float>, dHidden: UnsafePointer<Float>)

    // MARK: Generation (rows = the chunk capacity, one step at a time)

    /// The packed weight forms `generationStep` reads.
    static var generationForms: PackedForms { get }
    /// Floats of each buffer of one layer's generation state. Buffer 0 holds the layer's input
    /// x_t, one row per sequence, `generationInputStride` floats apart.
    static func generationBuffers(_ s: LayerShape) -> [Int]
    /// Floats of each scratch buffer of a step, shared by all layers (a worker's generation
    /// buffers and weights should stay in its share of the L2 cache); like the backward
    /// scratch, sized from layer 0's shape, so it may not depend on the input size.
    static func generationScratch(_ s: LayerShape) -> [Int]
    static func generationInputStride(_ s: LayerShape) -> Int
    /// Where the step leaves h_t: a scratch buffer index and its row stride (valid until the
    /// next layer's step).
    static func generationOutput(_ s: LayerShape) -> (scratch: Int, stride: Int)
    /// Sets the state of the first `n` rows to zero (h_0 = 0, and the cell's own state).
    static func generationReset(_ buffers: [UnsafeMutablePointer<Float>], rows n: Int, shape: LayerShape)
    /// One step of the first `n` rows: x_t (buffer 0) and the state in, h_t and the state out.
    static func generationStep(_ buffers: [UnsafeMutablePointer<Float>], scratch: [UnsafeMutablePointer<Float>], rows n: Int,
                               shape: LayerShape, weights: PackedLayer)
}

/// The cells `--cell` can name.
public enum Cells {
    /// Registration: one line per cell.
    public static let all: [any RecurrentCell.Type] = [
        LSTMCell.self,
        GRUCell.self,
    ]

    public static var names: [String] { all.map { $0.name } }

    public static func named(_ name: String) -> (any RecurrentCell.Type)? {
        all.first { $0.name == name }
    }

    /// The cell a user named, or an error listing the ones there are.
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
        throw PatchRNNError.setting(.cell, "\(requested) contradicts \(file), which holds a \(config.cell.title) model (leave --cell out to use the checkpoint's)")
    }
}
