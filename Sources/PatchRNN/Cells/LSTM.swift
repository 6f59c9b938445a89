import PatchRNNKernels

/// The LSTM cell, as PyTorch's nn.LSTM computes it. Gate order i, f, g, o:
///   a = x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          [G*H = 4H]
///   i = s(a_i)  f = s(a_f)  g = tanh(a_g)  o = s(a_o)
///   c_t = f c_{t-1} + i g      h_t = o tanh(c_t)
/// The hidden projection adds straight into the input projection's block, so one buffer of
/// pre-activation gradients serves both weight gradients. The fused kernels are in
/// PatchRNNKernels/LSTMKernels.swift.
public enum LSTMCell: RecurrentCell {
    public static let name = "lstm"
    public static let title = "LSTM"
    public static let gateCount = 4
    public static let gateOrder = "i,f,g,o"

    public static func multiplyAddsPerStep(input: Int, hidden: Int) -> Int { (input + hidden) * 4 * hidden }

    // MARK: Training

    // Forward buffers: the gates [Tn x 4H] (input projection in, activated i, f, g, o out),
    // the cell states c [(T+1)n x H] (block 0 = c_0 = 0) and tanh(c) [Tn x H].
    private enum Forward { static let gates = 0, cells = 1, tanhCells = 2 }
    // Backward scratch: pre-activation gradients [Tn x 4H], dL/dh from step t+1 [n x H], dL/dc [n x H].
    private enum Backward { static let dGates = 0, dHiddenRecurrent = 1, dCell = 2 }

    public static func forwardBuffers(_ s: LayerShape) -> [Int] {
        let tn = s.steps * s.rows
        return [tn * 4 * s.hidden, (s.steps + 1) * s.rows * s.hidden, tn * s.hidden]
    }

    public static func backwardBuffers(_ s: LayerShape) -> [Int] {
        [s.steps * s.rows * 4 * s.hidden, s.rows * s.hidden, s.rows * s.hidden]
    }

    public static func forward(_ buffers: [UnsafeMutablePointer<Float>], h hs: UnsafeMutablePointer<Float>, rows: BlockRows,
                               steps: Range<Int>, shape: LayerShape, weights w: PackedLayer) {
        let h = shape.hidden, g4 = 4 * h, n = rows.count
        let gts = buffers[Forward.gates], cs = buffers[Forward.cells], tcs = buffers[Forward.tanhCells]
        if steps.lowerBound == 0 { cs.update(repeating: 0, count: n * h) }
        for s in steps {
            let gs = gts + s * n * g4
            if w.fused {
                // The recurrent product and the cell in one kernel (h_0 = 0: no product at step 0).
                let step = LSTMStepBuffers(k: s > 0 ? h : 0, a: hs + s * n * h, aRowStride: h, panels: w.hiddenPanels,
                                           gates: gs, startsFromGates: true, storesGates: true, bias: w.biasSum,
                                           cPrev: cs + s * n * h, cOut: cs + (s + 1) * n * h, cRowStride: h,
                                           tanhC: tcs + s * n * h, hOut: hs + (s + 1) * n * h, hRowStride: h, layout: w.gates)
                rows.forEachRun(steps: 1, format: w.format) { run, split in lstmFusedStep(step, rows: run, split: split) }
                continue
            }
            // h_0 = 0: the first step has no recurrent product.
            if s > 0 { rows.gemm(a: hs + s * n * h, aRowStride: h, b: w.hiddenT, c: gs, ldc: g4, accumulate: true) }
            lstmCellForward(rows: n, hidden: h, gates: gs, bias: w.biasSum,
                            cPrev: cs + s * n * h, cOut: cs + (s + 1) * n * h,
                            tanhC: tcs + s * n * h, hOut: hs + (s + 1) * n * h)
        }
    }

    public static func backward(_ buffers: [UnsafeMutablePointer<Float>], scratch: [UnsafeMutablePointer<Float>],
                                h hs: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>, rows: BlockRows,
                                shape: LayerShape, weights w: PackedLayer) -> (dInput: UnsafePointer<Float>, dHidden: UnsafePointer<Float>) {
        let h = shape.hidden, g4 = 4 * h, n = rows.count
        let gts = buffers[Forward.gates], cs = buffers[Forward.cells], tcs = buffers[Forward.tanhCells]
        let dg = scratch[Backward.dGates], dhr = scratch[Backward.dHiddenRecurrent], dc = scratch[Backward.dCell]
        dhr.update(repeating: 0, count: n * h)
        dc.update(repeating: 0, count: n * h)
        for s in stride(from: shape.steps - 1, through: 0, by: -1) {
            lstmCellBackward(rows: n, hidden: h, layout: w.gates, gates: gts + s * n * g4, cPrev: cs + s * n * h,
                             tanhC: tcs + s * n * h, dhAbove: dhAbove + s * n * h, dhRecurrent: dhr,
                             dc: dc, dGates: dg + s * n * g4)
            if s > 0 { rows.gemm(a: dg + s * n * g4, aRowStride: g4, b: w.hidden, c: dhr, ldc: h, accumulate: false) }
        }
        return (UnsafePointer(dg), UnsafePointer(dg))
    }

    // MARK: Generation

    // Each step is one GEMM over [x_t | h_{t-1}] with the stacked weights [W_ih^T ; W_hh^T], so
    // the gate block is written once instead of being written by x W_ih^T and read back for
    // + h W_hh^T (64 KiB per layer and step, more than L1). Each output is still the sum over k
    // of the input products followed by the hidden ones, as in two GEMMs with these rows.
    // Per layer: [x | h] rows [n x (in + H)] and c [n x H]; scratch: gates [n x 4H], tanh(c) [n x H], h [n x H].
    private enum Generation { static let stacked = 0, cells = 1 }
    private enum GenerationScratch { static let gates = 0, tanhCells = 1, hidden = 2 }

    public static let generationForms: PackedForms = [.stacked]

    public static func generationBuffers(_ s: LayerShape) -> [Int] { [s.rows * (s.input + s.hidden), s.rows * s.hidden] }

    public static func generationScratch(_ s: LayerShape) -> [Int] { [s.rows * 4 * s.hidden, s.rows * s.hidden, s.rows * s.hidden] }

    public static func generationInputStride(_ s: LayerShape) -> Int { s.input + s.hidden }

    public static func generationOutput(_ s: LayerShape) -> (scratch: Int, stride: Int) { (GenerationScratch.hidden, s.hidden) }

    public static func generationReset(_ buffers: [UnsafeMutablePointer<Float>], rows n: Int, shape s: LayerShape) {
        buffers[Generation.cells].update(repeating: 0, count: n * s.hidden)
        buffers[Generation.stacked].update(repeating: 0, count: n * (s.input + s.hidden))  // h_0 = 0
    }

    public static func generationStep(_ buffers: [UnsafeMutablePointer<Float>], scratch: [UnsafeMutablePointer<Float>], rows n: Int,
                                      shape s: LayerShape, weights w: PackedLayer) {
        let h = s.hidden, stride = s.input + h
        let rows = buffers[Generation.stacked], gates = scratch[GenerationScratch.gates], hOut = scratch[GenerationScratch.hidden]
        if w.fused {
            // [x | h] [W_ih^T ; W_hh^T] and the cell in one kernel; c is updated in place.
            let step = LSTMStepBuffers(k: stride, a: rows, aRowStride: stride, panels: w.stackedPanels, gates: gates,
                                       startsFromGates: false, storesGates: false, bias: w.biasSum,
                                       cPrev: buffers[Generation.cells], cOut: buffers[Generation.cells], cRowStride: h,
                                       tanhC: nil, hOut: hOut, hRowStride: h, layout: w.gates)
            BlockRows(count: n, shardSize: n).forEachRun(steps: 1, format: w.format) { run, split in
                lstmFusedStep(step, rows: run, split: split)
            }
        } else {
            gemm(m: n, a: rows, aRowStride: stride, b: w.stackedT, c: gates, ldc: 4 * h, accumulate: false)
            lstmCellForward(rows: n, hidden: h, gates: gates, bias: w.biasSum,
                            cPrev: buffers[Generation.cells], cOut: buffers[Generation.cells],
                            tanhC: scratch[GenerationScratch.tanhCells], hOut: hOut)
        }
        // h_t goes beside x_{t+1} for this layer's next step.
        for b in 0..<n { (rows + b * stride + s.input).update(from: hOut + b * h, count: h) }
    }
}
