/// The shape of the network: stacked LSTM layers and a Dense layer applied at every step.
public struct ModelConfig: Equatable, Sendable, Codable {
    public var inputSize: Int
    public var hidden: Int
    public var layers: Int
    public var outputSize: Int
    /// Inputs per training sequence (16 patches: 15 inputs, each predicting the next).
    public var steps: Int

    public init(inputSize: Int = Patches.patchSize, hidden: Int = 64, layers: Int = 2,
                outputSize: Int = Patches.patchSize, steps: Int = Patches.count - 1) {
        self.inputSize = inputSize
        self.hidden = hidden
        self.layers = layers
        self.outputSize = outputSize
        self.steps = steps
    }

    public static let `default` = ModelConfig()

    public func layerInputSize(_ layer: Int) -> Int { layer == 0 ? inputSize : hidden }

    /// Multiply-adds x 2 of one training sample, forward + backward (backward is two GEMMs for
    /// every forward one).
    public var trainingFlopsPerSample: Double { 3 * forwardFlopsPerSample }

    public var forwardFlopsPerSample: Double {
        var macs = 0
        for l in 0..<layers { macs += (layerInputSize(l) + hidden) * 4 * hidden }
        macs += hidden * outputSize
        return Double(2 * macs * steps)
    }
}

/// Where one named tensor lives in the flat parameter buffer. `rows x cols` row-major.
/// Weight matrices are stored transposed relative to PyTorch (in x 4H) so that the forward
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

/// The named views of one flat parameter (or gradient, or Adam moment) buffer.
public struct ParameterLayout: Sendable {
    public struct LSTMLayer: Sendable {
        public let weightIHt: TensorView   // [in x 4H]
        public let weightHHt: TensorView   // [H x 4H]
        public let biasIH: TensorView      // [4H]
        public let biasHH: TensorView      // [4H]
    }

    public let config: ModelConfig
    public let lstm: [LSTMLayer]
    public let denseWeightT: TensorView    // [H x out]
    public let denseBias: TensorView       // [out]
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
        let h = config.hidden
        var layers: [LSTMLayer] = []
        for l in 0..<config.layers {
            layers.append(LSTMLayer(
                weightIHt: view("lstm.weight_ih_l\(l)", config.layerInputSize(l), 4 * h, transposed: true),
                weightHHt: view("lstm.weight_hh_l\(l)", h, 4 * h, transposed: true),
                biasIH: view("lstm.bias_ih_l\(l)", 1, 4 * h, transposed: false),
                biasHH: view("lstm.bias_hh_l\(l)", 1, 4 * h, transposed: false)))
        }
        lstm = layers
        denseWeightT = view("linear.weight", h, config.outputSize, transposed: true)
        denseBias = view("linear.bias", 1, config.outputSize, transposed: false)
        paddedCount = (offset + Self.alignment - 1) / Self.alignment * Self.alignment
        parameterCount = allViewsOf(layers, denseWeightT, denseBias).reduce(0) { $0 + $1.count }
    }

    /// Every tensor in PyTorch state_dict order.
    public var allViews: [TensorView] { allViewsOf(lstm, denseWeightT, denseBias) }
}

private func allViewsOf(_ lstm: [ParameterLayout.LSTMLayer], _ w: TensorView, _ b: TensorView) -> [TensorView] {
    lstm.flatMap { [$0.weightIHt, $0.weightHHt, $0.biasIH, $0.biasHH] } + [w, b]
}
