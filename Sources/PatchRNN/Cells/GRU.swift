import PatchRNNKernels

/// The GRU cell, as PyTorch's nn.GRU (and Keras' GRU with reset_after=True) computes it. Gate
/// order r, z, n:
///   r = s(W_ir x + b_ir + W_hr h + b_hr)     z = s(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r (W_hn h + b_hn))     h_t = (1 - z) n + z h_{t-1}
/// The reset gate multiplies the hidden projection of n, so each step's h W_hh^T is summed
/// apart from the input projection, and backward gives two gradients (the input and the hidden
/// projection's). The kernels are in PatchRNNKernels/FusedGRU.swift (the step, gates grouped)
/// and GRUKernels.swift.
public enum GRUCell: RecurrentCell {
    public static let name = "gru"
    public static let title = "GRU"
    public static let gateCount = 3
    public static let gateOrder = "r,z,n"

    public static func multiplyAddsPerStep(input: Int, hidden: Int) -> Int { (input + hidden) * 3 * hidden }

    // MARK: Training

    /// What forward keeps for backward, per layer (T steps, n rows, H hidden).
    public struct Forward: CellForwardBuffers {
        /// [Tn x 3H]: the input projection in, the activated r, z, n out.
        public let gates: UnsafeMutablePointer<Float>
        /// [Tn x H]: W_hn h + b_hn of every step (backward needs it).
        public let hiddenN: UnsafeMutablePointer<Float>
        /// [n x 3H]: one step's hidden projection (the separate kernels only).
        public let step: UnsafeMutablePointer<Float>

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            let tn = s.steps * s.rows
            gates = d.buffer("gates", tn * 3 * s.hidden)
            hiddenN = d.buffer("W_hn h + b_hn", tn * s.hidden)
            step = d.buffer("h W_hh^T of a step", s.rows * 3 * s.hidden)
        }

        public var inputProjection: UnsafeMutablePointer<Float> { gates }
    }

    /// Backward's scratch, shared by the layers.
    public struct BackwardScratch: CellBuffers {
        /// [Tn x 3H] each: the gradients of the input and of the hidden projection.
        public let dInput: UnsafeMutablePointer<Float>
        public let dHidden: UnsafeMutablePointer<Float>
        /// [n x H]: dL/dh_t from step t+1.
        public let dHiddenRecurrent: UnsafeMutablePointer<Float>

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            let tn = s.steps * s.rows
            dInput = d.buffer("dInput", tn * 3 * s.hidden)
            dHidden = d.buffer("dHidden", tn * 3 * s.hidden)
            dHiddenRecurrent = d.buffer("dHiddenRecurrent", s.rows * s.hidden)
        }
    }

    public static func forward(
        _ b: Forward, h hs: UnsafeMutablePointer<Float>, rows: BlockRows,
        steps: Range<Int>, shape: LayerShape, weights w: PackedLayer
    ) {
        let h = shape.hidden, g3 = 3 * h, n = rows.count
        for s in steps {
            if w.fused {
                // The recurrent product and the cell in one kernel (h_0 = 0: no product at step 0).
                let step = GRUStepBuffers(
                    kHidden: s > 0 ? h : 0, hPrev: hs + s * n * h, hPrevRowStride: h, hiddenPanels: w.hiddenPanels,
                    input: nil, inputRowStride: 0, kInput: 0, inputPanels: nil,
                    gates: b.gates + s * n * g3, storesGates: true,
                    biasSum: w.biasSum, biasIH: w.biasIH, biasHH: w.biasHH,
                    hiddenN: b.hiddenN + s * n * h, hOut: hs + (s + 1) * n * h, hOutRowStride: h, layout: w.gates)
                rows.forEachRun(steps: 1, format: w.format) { run, split in gruFusedStep(step, rows: run, split: split) }
                continue
            }
            // h_0 = 0: the first step's hidden projection is zero.
            if s > 0 {
                rows.gemm(a: hs + s * n * h, aRowStride: h, b: w.hiddenT, c: b.step, ldc: g3, accumulate: false)
            } else {
                b.step.update(repeating: 0, count: n * g3)
            }
            gruCellForward(
                rows: n, hidden: h, gates: b.gates + s * n * g3, hh: b.step, biasSum: w.biasSum, biasIH: w.biasIH,
                biasHH: w.biasHH, hPrev: hs + s * n * h, hOut: hs + (s + 1) * n * h, hiddenN: b.hiddenN + s * n * h)
        }
    }

    public static func backward(
        _ b: Forward, scratch: BackwardScratch, h hs: UnsafePointer<Float>, dhAbove: UnsafePointer<Float>,
        rows: BlockRows, shape: LayerShape, weights w: PackedLayer
    ) -> ProjectionGradients {
        let h = shape.hidden, g3 = 3 * h, n = rows.count
        let di = scratch.dInput, dhh = scratch.dHidden, dhr = scratch.dHiddenRecurrent
        dhr.update(repeating: 0, count: n * h)
        for s in stride(from: shape.steps - 1, through: 0, by: -1) {
            gruCellBackward(
                rows: n, hidden: h, layout: w.gates, gates: b.gates + s * n * g3, hiddenN: b.hiddenN + s * n * h,
                hPrev: hs + s * n * h, dhAbove: dhAbove + s * n * h, dhRecurrent: dhr,
                dInput: di + s * n * g3, dHidden: dhh + s * n * g3)
            if s > 0 { rows.gemm(a: dhh + s * n * g3, aRowStride: g3, b: w.hidden, c: dhr, ldc: h, accumulate: true) }
        }
        return .separate(input: UnsafePointer(di), hidden: UnsafePointer(dhh))
    }

    // MARK: Generation

    /// Per layer: the input rows x_t and the state h.
    public struct GenerationState: CellGenerationState {
        /// [n x in].
        public let input: UnsafeMutablePointer<Float>
        /// [n x H]: h_{t-1}.
        public let state: UnsafeMutablePointer<Float>
        public let inputStride: Int

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            input = d.buffer("x", s.rows * s.input)
            state = d.buffer("h", s.rows * s.hidden)
            inputStride = s.input
        }
    }

    /// A step's scratch, shared by the layers.
    public struct GenerationScratch: CellGenerationScratch {
        /// [n x 3H] each: the input and the hidden projection (the separate kernels only).
        public let gates: UnsafeMutablePointer<Float>
        public let hh: UnsafeMutablePointer<Float>
        /// [n x H]: W_hn h + b_hn (the separate kernels only).
        public let hiddenN: UnsafeMutablePointer<Float>
        /// [n x H]: h_t.
        public let hidden: UnsafeMutablePointer<Float>
        public let outputStride: Int

        public init(_ d: inout BufferDeclarations, shape s: LayerShape) {
            gates = d.buffer("x W_ih^T", s.rows * 3 * s.hidden)
            hh = d.buffer("h W_hh^T", s.rows * 3 * s.hidden)
            hiddenN = d.buffer("W_hn h + b_hn", s.rows * s.hidden)
            hidden = d.buffer("h_t", s.rows * s.hidden)
            outputStride = s.hidden
        }

        public var output: UnsafeMutablePointer<Float> { hidden }
    }

    public static let generationForms: PackedForms = [.stepwise]
    /// PyTorch's order, so the two products run as GEMMs and the cell kernel apart: on a Zen 3
    /// core that generates 18% more images/s (one thread; 10% with two) than the fused 2-row
    /// tile, whose short k-loops
    /// leave its six activations per two rows too little work to hide behind
    /// (docs/performance.md, "Gates in registers").
    public static let generationGateOrder = GateOrder.standard

    public static func generationReset(_ state: GenerationState, rows n: Int, shape s: LayerShape) {
        state.state.update(repeating: 0, count: n * s.hidden)  // h_0 = 0
    }

    public static func generationStep(
        _ state: GenerationState, scratch: GenerationScratch, rows n: Int,
        shape s: LayerShape, weights w: PackedLayer
    ) {
        let h = s.hidden, g3 = 3 * h
        let hOut = scratch.hidden
        if w.fused {
            // One pass over [x | h] keeping the two projections' sums apart, and the cell.
            let step = GRUStepBuffers(
                kHidden: h, hPrev: state.state, hPrevRowStride: h, hiddenPanels: w.hiddenPanels,
                input: state.input, inputRowStride: s.input, kInput: s.input, inputPanels: w.inputPanels,
                gates: scratch.gates, storesGates: false, biasSum: w.biasSum, biasIH: w.biasIH, biasHH: w.biasHH,
                hiddenN: nil, hOut: hOut, hOutRowStride: h, layout: w.gates)
            BlockRows(count: n, shardSize: n).forEachRun(steps: 1, format: w.format) { run, split in
                gruFusedStep(step, rows: run, split: split)
            }
        } else {
            gemm(m: n, a: state.input, aRowStride: s.input, b: w.inputT, c: scratch.gates, ldc: g3, accumulate: false)
            gemm(m: n, a: state.state, aRowStride: h, b: w.hiddenT, c: scratch.hh, ldc: g3, accumulate: false)
            gruCellForward(
                rows: n, hidden: h, gates: scratch.gates, hh: scratch.hh, biasSum: w.biasSum, biasIH: w.biasIH,
                biasHH: w.biasHH, hPrev: state.state, hOut: hOut, hiddenN: scratch.hiddenN)
        }
        state.state.update(from: hOut, count: n * h)
    }
}
