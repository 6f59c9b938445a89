/// Where one named tensor lives in the flat parameter buffer. `rows x cols` row-major.
/// Weight matrices are stored transposed relative to PyTorch (in x G*H) so that the forward
/// GEMMs read them directly; `torchShape` is how they appear in a checkpoint.
public struct TensorView: Sendable, Equatable {
    public let name: String
    public let offset: Int
    public let rows: Int
    public let cols: Int
    public let transposedInTorch: Bool

    public var count: Int { rows * cols }
    public var torchShape: [Int] {
        if rows == 1 { return [cols] }
        return transposedInTorch ? [cols, rows] : [rows, cols]
    }
}

/// The named views of one flat parameter (or gradient, or Adam moment) buffer: per recurrent
/// layer the four tensors PyTorch's nn.LSTM / nn.GRU have, named by the cell, then the Dense
/// layer as nn.Linear names it.
public struct ParameterLayout: Sendable {
    public struct Layer: Sendable {
        public let weightIHt: TensorView  // [in x G*H]
        public let weightHHt: TensorView  // [H x G*H]
        public let biasIH: TensorView  // [G*H]
        public let biasHH: TensorView  // [G*H]
    }

    public let config: ModelConfig
    public let layers: [Layer]
    public let denseWeightT: TensorView  // [H x out]
    public let denseBias: TensorView  // [out]
    /// Number of real parameters.
    public let parameterCount: Int
    /// Buffer length: rounded up to a multiple of `alignment` so that sharded updates always
    /// work on whole SIMD blocks (the padding stays zero).
    public let paddedCount: Int
    public static let alignment = 64

    public init(_ config: ModelConfig) {
        self.config = config
        var offset = 0
        func view(_ name: String, _ rows: Int, _ cols: Int, transposed: Bool) -> TensorView {
            // Each tensor starts on a 16-float boundary (64 bytes).
            let v = TensorView(name: name, offset: offset, rows: rows, cols: cols, transposedInTorch: transposed)
            offset += (rows * cols + 15) / 16 * 16
            return v
        }
        let h = config.hidden, gh = config.cell.gateCount * h, prefix = config.cell.name
        layers = (0..<config.layers).map { l in
            Layer(
                weightIHt: view("\(prefix).weight_ih_l\(l)", config.layerInputSize(l), gh, transposed: true),
                weightHHt: view("\(prefix).weight_hh_l\(l)", h, gh, transposed: true),
                biasIH: view("\(prefix).bias_ih_l\(l)", 1, gh, transposed: false),
                biasHH: view("\(prefix).bias_hh_l\(l)", 1, gh, transposed: false))
        }
        denseWeightT = view("linear.weight", h, config.outputSize, transposed: true)
        denseBias = view("linear.bias", 1, config.outputSize, transposed: false)
        paddedCount = (offset + Self.alignment - 1) / Self.alignment * Self.alignment
        parameterCount = Self.views(layers, denseWeightT, denseBias).reduce(0) { $0 + $1.count }
    }

    /// Every tensor in PyTorch state_dict order.
    public var allViews: [TensorView] { Self.views(layers, denseWeightT, denseBias) }

    /// The recurrent layers' tensors (initialised with the hidden size's scale).
    public var recurrentViews: [TensorView] { layers.flatMap { [$0.weightIHt, $0.weightHHt, $0.biasIH, $0.biasHH] } }

    private static func views(_ layers: [Layer], _ w: TensorView, _ b: TensorView) -> [TensorView] {
        layers.flatMap { [$0.weightIHt, $0.weightHHt, $0.biasIH, $0.biasHH] } + [w, b]
    }
}
