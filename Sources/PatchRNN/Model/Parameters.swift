/// Model parameters: one flat buffer plus its layout.
public final class Parameters: @unchecked Sendable {
    public let layout: ParameterLayout
    public let buffer: FloatBuffer

    public var config: ModelConfig { layout.config }

    public init(layout: ParameterLayout) {
        self.layout = layout
        buffer = FloatBuffer(count: layout.paddedCount, what: "the model's \(layout.parameterCount) parameters")
    }

    /// PyTorch's defaults: LSTM and GRU weights and biases U(-1/sqrt(H), 1/sqrt(H)); Linear
    /// weight and bias U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5) reduces to
    /// that; here in = H). One seeded stream, tensors in state_dict order.
    /// - Parameters:
    ///   - config: The model's shape.
    ///   - seed: The seed; the same seed gives the same weights on every machine.
    /// - Returns: New weights.
    public static func initialized(_ config: ModelConfig, seed: UInt64) -> Parameters {
        let p = Parameters(layout: ParameterLayout(config))
        var rng = SeededRandom(seed: seed, stream: "init")
        let kRecurrent = 1 / Float(config.hidden).squareRoot()
        let kDense = 1 / Float(config.hidden).squareRoot()
        let recurrent = Set(p.layout.recurrentViews.map(\.name))
        for v in p.layout.allViews {
            let k = recurrent.contains(v.name) ? kRecurrent : kDense
            for i in 0..<v.count { p.buffer[v.offset + i] = rng.uniform(-k, k) }
        }
        return p
    }

    public func copy() -> Parameters {
        let p = Parameters(layout: layout)
        p.buffer.copy(from: buffer)
        return p
    }

    /// A tensor in PyTorch's layout (weights transposed back to [out x in]).
    public func torchTensor(_ v: TensorView) -> [Float] {
        Self.torchOrder(v, buffer.pointer)
    }

    public func setTorchTensor(_ v: TensorView, _ values: [Float]) {
        precondition(values.count == v.count)
        if v.transposedInTorch {
            for r in 0..<v.rows { for c in 0..<v.cols { buffer[v.offset + r * v.cols + c] = values[c * v.rows + r] } }
        } else {
            for i in 0..<v.count { buffer[v.offset + i] = values[i] }
        }
    }

    /// Reads view `v` from any buffer of this layout (parameters, gradients) in torch order.
    public static func torchOrder(_ v: TensorView, _ base: UnsafePointer<Float>) -> [Float] {
        var out = [Float](repeating: 0, count: v.count)
        if v.transposedInTorch {
            for r in 0..<v.rows { for c in 0..<v.cols { out[c * v.rows + r] = base[v.offset + r * v.cols + c] } }
        } else {
            for i in 0..<v.count { out[i] = base[v.offset + i] }
        }
        return out
    }
}
