import PatchRNNKernels

/// The GRU cell, as PyTorch's nn.GRU (and Keras' GRU with reset_after=True) computes it. Gate
/// order r, z, n:
///   r = s(W_ir x + b_ir + W_hr h + b_hr)     z = s(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r (W_hn h + b_hn))     h_t = (1 - z) n + z h_{t-1}
/// The reset gate multiplies the hidden projection of n, so each step's h W_hh^T goes to a
/// block of its own instead of adding into the input projection, and backward returns two
/// gradients (the input and the hidden projection's). The fused kernels are in
/// PatchRNNKernels/GRUKernels.swift.
public enum GRUCell: RecurrentCell {
    public static let name = "gru"
    public static let title = "GRU"
    public static let gateCount = 3
    public static let gateOrder = "r,z,n"

    public static func multiplyAddsPerStep(input: Int, hidden: Int) -> Int { (input + hidden) * 3 * hidden }

    // MARK: Training

    // Forward buffers: the gates [Tn x 3H] (input projection in, activated r, z, n out), the
    // hidden projection of n plus its bias for every step [Tn x H] (backward needs it), and
    // one step's hidden projection [n x 3H].
    private enum Forward { static let gates = 0, hiddenN = 1, step = 2 }
    // Backward scratch: the gradients of the input and of the hidden projection [Tn x 3H]
    // each, and dL/dh from step t+1 [n x H].
    private enum Backward { static let dInput = 0, dHidden = 1, dHiddenRecurrent = 2 }

    public static func forwardBuffers(_ s: LayerShape) -> [Int] {
        let tn = s.steps * s.rows
        return [tn * 3 * s.hidden, tn * s.hidden, s.rows * 3 * s.hidden]
    }

    public static func backwardBuffers(_ s: LayerShape) -> [Int] {
        let tn = s.steps * s.rows
        return [tn * 3 * s.hidden, tn * 3 * s.hidden, s.rows * s.hidden]
    }

    public static func forward(_ buffers: [UnsafeMutablePointer<Float>], h hs: UnsafeMutablePointer<Float>, rows: BlockRows,
                               steps: Range<Int>, shape: LayerShape, weights w: PackedLayer) {
        let h = shape.hidden, g3 = 3 * h, n = rows.count
        let gts = buffers[Forward.gates], hn = buffers[Forward.hiddenN], hh = buffers[Forward.step]
        for s in steps {
            if w.fused {
                // The recurrent product and the cell in one kernel (h_0 = 0: no product at step 0).
                let step = GRUStepBuffers(kHidden: s > 0 ? h : 0, hPrev: hs + s * n * h, hPrevRowStride: h, hiddenPanels: w.hiddenPanels,
                                          input: nil, inputRowStride: 0, kInput: 0, inputPanels: nil,
                                          gates: gts + s * n * g3, storesGates: true,
                                          biasSum: w.biasSum, biasIH: w.biasIH, biasHH: w.biasHH,
                                          hiddenN: hn + s * n * h, hOut: hs + (s + 1) * n * h, hOutRowStride: h, layout: w.gates)
                rows.forEachRun(steps: 1, format: w.format) { run, split in gruFusedStep(step, rows: run, split: split) }
                continue
            }
            // h_0 = 0: the first step's hidden projection is zero.
            if s > 0 {
                rows.gemm(a: hs + s * n * h, aRowStride: h, b: w.hiddenT, c: hh, ldc: g3, accumulate: false)
            } else {
                hh.update(repeating: 0, count: n * g3)
            }
            gruCellForward(rows: n, hidden: h, gates: gts + s * n * g3, hh: hh, biasSum: w.biasSum, biasIH: w.biasIH,
                           biasHH: w.biasHH, hPrev: hs + s * n * h, hOut: hs + (s + 1) * n * h, hiddenN: hn + s * n * h)
        }
    }

    public static func backward(_ buffers: [UnsafeMutablePointer<Float>], scratch: [UnsafeMutablePointer<Float>],
                                h hs: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>, rows: BlockRows,
                                shape: LayerShape, weights w: PackedLayer) -> (dInput: UnsafePointer<Float>, dHidden: UnsafePointer<Float>) {
        let h = shape.hidden, g3 = 3 * h, n = rows.count
        let gts = buffers[Forward.gates], hn = buffers[Forward.hiddenN]
        let di = scratch[Backward.dInput], dhh = scratch[Backward.dHidden], dhr = scratch[Backward.dHiddenRecurrent]
        dhr.update(repeating: 0, count: n * h)
        for s in stride(from: shape.steps - 1, through: 0, by: -1) {
            gruCellBackward(rows: n, hidden: h, layout: w.gates, gates: gts + s * n * g3, hiddenN: hn + s * n * h, hPrev: hs + s * n * h,
                            dhAbove: dhAbove + s * n * h, dhRecurrent: dhr, dInput: di + s * n * g3, dHidden: dhh + s * n * g3)
            if s > 0 { rows.gemm(a: dhh + s * n * g3, aRowStride: g3, b: w.hidden, c: dhr, ldc: h, accumulate: true) }
        }
        return (UnsafePointer(di), UnsafePointer(dhh))
    }

    // MARK: Generation

    // Per layer: the input rows x_t [n x in] and the state h [n x H]. Scratch: the input and
    // hidden projections [n x 3H] each, W_hn h + b_hn [n x H] and h_t [n x H].
    private enum Generation { static let input = 0, state = 1 }
    private enum GenerationScratch { static let gates = 0, hh = 1, hiddenN = 2, hidden = 3 }

    public static let generationForms: PackedForms = [.stepwise]

    public static func generationBuffers(_ s: LayerShape) -> [Int] { [s.rows * s.input, s.rows * s.hidden] }

    public static func generationScratch(_ s: LayerShape) -> [Int] {
        [s.rows * 3 * s.hidden, s.rows * 3 * s.hidden, s.rows * s.hidden, s.rows * s.hidden]
    }

    public static func generationInputStride(_ s: LayerShape) -> Int { s.input }

    public static func generationOutput(_ s: LayerShape) -> (scratch: Int, stride: Int) { (GenerationScratch.hidden, s.hidden) }

    public static func generationReset(_ buffers: [UnsafeMutablePointer<Float>], rows n: Int, shape s: LayerShape) {
        buffers[Generation.state].update(repeating: 0, count: n * s.hidden)  // h_0 = 0
    }

    public static func generationStep(_ buffers: [UnsafeMutablePointer<Float>], scratch: [UnsafeMutablePointer<Float>], rows n: Int,
                                      shape s: LayerShape, weights w: PackedLayer) {
        let h = s.hidden, g3 = 3 * h
        let gates = scratch[GenerationScratch.gates], hh = scratch[GenerationScratch.hh], hOut = scratch[GenerationScratch.hidden]
        let state = buffers[Generation.state]
        if w.fused {
            // One pass over [x | h] keeping the two projections' sums apart, and the cell.
            let step = GRUStepBuffers(kHidden: h, hPrev: state, hPrevRowStride: h, hiddenPanels: w.hiddenPanels,
                                      input: buffers[Generation.input], inputRowStride: s.input, kInput: s.input, inputPanels: w.inputPanels,
                                      gates: gates, storesGates: false, biasSum: w.biasSum, biasIH: w.biasIH, biasHH: w.biasHH,
                                      hiddenN: nil, hOut: hOut, hOutRowStride: h, layout: w.gates)
            BlockRows(count: n, shardSize: n).forEachRun(steps: 1, format: w.format) { run, split in
                gruFusedStep(step, rows: run, split: split)
            }
        } else {
            gemm(m: n, a: buffers[Generation.input], aRowStride: s.input, b: w.inputT, c: gates, ldc: g3, accumulate: false)
            gemm(m: n, a: state, aRowStride: h, b: w.hiddenT, c: hh, ldc: g3, accumulate: false)
            gruCellForward(rows: n, hidden: h, gates: gates, hh: hh, biasSum: w.biasSum, biasIH: w.biasIH, biasHH: w.biasHH,
                           hPrev: state, hOut: hOut, hiddenN: scratch[GenerationScratch.hiddenN])
        }
        state.update(from: hOut, count: n * h)
    }
}
