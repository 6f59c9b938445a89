/// The shape of the network: stacked recurrent layers of one cell type and a Dense layer
/// applied at every step.
public struct ModelConfig: Equatable, Sendable, Codable {
    /// The registered name of the cell (`Cells.all`), checked when the config is made or decoded.
    public private(set) var cellName: String
    public var inputSize: Int
    public var hidden: Int
    public var layers: Int
    public var outputSize: Int
    /// Inputs per training sequence (16 patches: 15 inputs, each predicting the next).
    public var steps: Int

    /// - Parameters:
    ///   - cell: The recurrent cell (`LSTMCell.self`, `GRUCell.self`, or `Cells.resolve(name)`).
    ///   - inputSize: Floats per input patch (49).
    ///   - hidden: The hidden size of each recurrent layer.
    ///   - layers: Stacked recurrent layers.
    ///   - outputSize: Floats per predicted patch (49).
    ///   - steps: Inputs per training sequence (15).
    public init(
        cell: any RecurrentCell.Type = LSTMCell.self, inputSize: Int = Patches.patchSize, hidden: Int = 64,
        layers: Int = 2, outputSize: Int = Patches.patchSize, steps: Int = Patches.count - 1
    ) {
        cellName = cell.name
        self.inputSize = inputSize
        self.hidden = hidden
        self.layers = layers
        self.outputSize = outputSize
        self.steps = steps
    }

    public static let `default` = ModelConfig()

    /// The cell type.
    public var cell: any RecurrentCell.Type { Cells.named(cellName)! }

    public func layerInputSize(_ layer: Int) -> Int { layer == 0 ? inputSize : hidden }

    /// Layer `l`'s shape for `rows` sequences.
    public func layerShape(_ l: Int, rows: Int) -> LayerShape {
        LayerShape(steps: steps, rows: rows, input: layerInputSize(l), hidden: hidden)
    }

    /// Multiply-adds x 2 of one training sample, forward + backward (backward is two GEMMs for
    /// every forward one).
    public var trainingFlopsPerSample: Double { 3 * forwardFlopsPerSample }

    public var forwardFlopsPerSample: Double { Double(2 * (recurrentMultiplyAddsPerStep + hidden * outputSize) * steps) }

    /// Multiply-adds x 2 of generating one image's bottom half (`GenerationWorkspace`): the
    /// recurrent layers on every step (the top half's patches, then the predictions fed back)
    /// and the Dense layer only on the steps whose outputs are the bottom half (1.90 MFLOP for
    /// the default LSTM, against 1.94 for a teacher-forced forward pass).
    public var generationFlopsPerImage: Double {
        Double(2 * (recurrentMultiplyAddsPerStep * steps + hidden * outputSize * (steps + 1 - Patches.topHalf)))
    }

    /// Multiply-adds of one step of every recurrent layer for one sequence.
    var recurrentMultiplyAddsPerStep: Int {
        (0..<layers).reduce(0) { $0 + cell.multiplyAddsPerStep(input: layerInputSize($1), hidden: hidden) }
    }

    enum CodingKeys: String, CodingKey {
        case cellName = "cell"
        case inputSize, hidden, layers, outputSize, steps
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Files written before the GRU existed have no cell: they are LSTMs.
        cellName = try c.decodeIfPresent(String.self, forKey: .cellName) ?? LSTMCell.name
        guard Cells.named(cellName) != nil else {
            throw DecodingError.dataCorruptedError(forKey: .cellName, in: c, debugDescription: "unknown cell \(cellName)")
        }
        inputSize = try c.decode(Int.self, forKey: .inputSize)
        hidden = try c.decode(Int.self, forKey: .hidden)
        layers = try c.decode(Int.self, forKey: .layers)
        outputSize = try c.decode(Int.self, forKey: .outputSize)
        steps = try c.decode(Int.self, forKey: .steps)
    }
}
