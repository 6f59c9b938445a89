/// The forward weights in the form the kernels read them, rebuilt once per parameter
/// version: W_ih^T, W_hh^T and W_d^T packed into GEMM panels, and b_ih + b_hh summed.
/// Training shards and generation chunks both run the forward from these.
final class PackedForwardWeights: @unchecked Sendable {
    let layout: ParameterLayout
    let inputHidden: [FloatBuffer]   // W_ih^T [in x 4H], packed
    let hiddenHidden: [FloatBuffer]  // W_hh^T [H x 4H], packed
    let dense: FloatBuffer           // W_d^T [H x out], packed
    let biasSums: [FloatBuffer]      // b_ih + b_hh [4H]

    init(layout: ParameterLayout) {
        self.layout = layout
        let c = layout.config, h = c.hidden
        inputHidden = (0..<c.layers).map { FloatBuffer(count: packedCount(k: c.layerInputSize($0), n: 4 * h)) }
        hiddenHidden = (0..<c.layers).map { _ in FloatBuffer(count: packedCount(k: h, n: 4 * h)) }
        dense = FloatBuffer(count: packedCount(k: h, n: c.outputSize))
        biasSums = (0..<c.layers).map { _ in FloatBuffer(count: 4 * h) }
    }

    func update(from params: UnsafePointer<Float>) {
        let g4 = 4 * layout.config.hidden
        for (l, v) in layout.lstm.enumerated() {
            let s = biasSums[l].pointer
            for j in 0..<g4 { s[j] = params[v.biasIH.offset + j] + params[v.biasHH.offset + j] }
            packB(k: v.weightIHt.rows, n: g4, params + v.weightIHt.offset, rowStride: g4, colStride: 1, into: inputHidden[l].pointer)
            packB(k: v.weightHHt.rows, n: g4, params + v.weightHHt.offset, rowStride: g4, colStride: 1, into: hiddenHidden[l].pointer)
        }
        let d = layout.denseWeightT
        packB(k: d.rows, n: d.cols, params + d.offset, rowStride: d.cols, colStride: 1, into: dense.pointer)
    }
}
