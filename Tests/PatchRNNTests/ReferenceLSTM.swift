import Foundation
import PatchRNNKernels

@testable import PatchRNN

/// The straightforward implementation: the same model in plain Double loops over Swift
/// arrays, one sequence and one time step at a time, weights in PyTorch's layout. The fast
/// path (time-major GEMMs, fused SIMD gates, shards) is checked against it.
struct ReferenceLSTM: ReferenceModel {
    static var cell: any RecurrentCell.Type { LSTMCell.self }
    let hidden: Int
    let layers: Int
    let d = Patches.patchSize
    let steps = Patches.count - 1
    /// state_dict: name -> values (PyTorch layout).
    var weights: [String: [Double]]

    init(_ params: Parameters) {
        hidden = params.config.hidden
        layers = params.config.layers
        weights = Self.stateDict(params)
    }

    func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// Free-running generation of one sequence's 8 bottom-half patches: the 8 true top-half
    /// patches in, then each prediction, clipped to [0, 1], fed back. [8 x 49].
    func generate(_ seq: [Float]) -> [Double] {
        let h = hidden, top = Patches.topHalf
        var hs = [[Double]](repeating: [Double](repeating: 0, count: h), count: layers), cs = hs
        var x = (0..<d).map { Double(seq[$0]) }
        var generated: [Double] = []
        for t in 0..<steps {
            if t < top { x = (0..<d).map { Double(seq[t * d + $0]) } }
            var input = x
            for l in 0..<layers {
                let inDim = input.count
                let wih = weights["lstm.weight_ih_l\(l)"]!, whh = weights["lstm.weight_hh_l\(l)"]!
                let bih = weights["lstm.bias_ih_l\(l)"]!, bhh = weights["lstm.bias_hh_l\(l)"]!
                var a = [Double](repeating: 0, count: 4 * h)
                for r in 0..<(4 * h) {
                    var s = bih[r] + bhh[r]
                    for k in 0..<inDim { s += wih[r * inDim + k] * input[k] }
                    for k in 0..<h { s += whh[r * h + k] * hs[l][k] }
                    a[r] = s
                }
                for j in 0..<h {
                    let i = sigmoid(a[j]), f = sigmoid(a[h + j]), g = tanh(a[2 * h + j]), o = sigmoid(a[3 * h + j])
                    cs[l][j] = f * cs[l][j] + i * g
                    hs[l][j] = o * tanh(cs[l][j])
                }
                input = hs[l]
            }
            if t >= top - 1 {
                let wd = weights["linear.weight"]!, bd = weights["linear.bias"]!
                for o in 0..<d {
                    var s = bd[o]
                    for k in 0..<h { s += wd[o * h + k] * input[k] }
                    x[o] = min(1, max(0, s))
                }
                generated += x
            }
        }
        return generated
    }

    /// Mean-squared-error loss over batch x 15 x 49, the outputs, and every gradient; the inputs
    /// are `inputs` where given (scheduled sampling's fed-back patches), the targets always the
    /// true next patches of `sequences`.
    func run(_ sequences: [[Float]], inputs: [[Float]]?) -> (loss: Double, outputs: [[Double]], grads: [String: [Double]]) {
        let h = hidden, b = sequences.count, n = Double(b * steps * d)
        var grads = weights.mapValues { [Double](repeating: 0, count: $0.count) }
        var loss = 0.0
        var outputs: [[Double]] = []
        for (i, seq) in sequences.enumerated() {
            let fed = inputs?[i] ?? seq
            // Forward, keeping every activation.
            var xs: [[[Double]]] = [(0..<steps).map { t in (0..<d).map { Double(fed[t * d + $0]) } }]
            var gatesAll: [[[Double]]] = [], cAll: [[[Double]]] = [], hAll: [[[Double]]] = []
            for l in 0..<layers {
                let inDim = l == 0 ? d : h
                let wih = weights["lstm.weight_ih_l\(l)"]!, whh = weights["lstm.weight_hh_l\(l)"]!
                let bih = weights["lstm.bias_ih_l\(l)"]!, bhh = weights["lstm.bias_hh_l\(l)"]!
                var hPrev = [Double](repeating: 0, count: h), cPrev = hPrev
                var gs: [[Double]] = [], cs: [[Double]] = [cPrev], hsOut: [[Double]] = [hPrev]
                for t in 0..<steps {
                    var a = [Double](repeating: 0, count: 4 * h)
                    for r in 0..<(4 * h) {
                        var s = bih[r] + bhh[r]
                        for k in 0..<inDim { s += wih[r * inDim + k] * xs[l][t][k] }
                        for k in 0..<h { s += whh[r * h + k] * hPrev[k] }
                        a[r] = s
                    }
                    var g = a
                    for j in 0..<h {
                        g[j] = sigmoid(a[j])
                        g[h + j] = sigmoid(a[h + j])
                        g[2 * h + j] = tanh(a[2 * h + j])
                        g[3 * h + j] = sigmoid(a[3 * h + j])
                    }
                    let c = (0..<h).map { g[h + $0] * cPrev[$0] + g[$0] * g[2 * h + $0] }
                    let hv = (0..<h).map { g[3 * h + $0] * tanh(c[$0]) }
                    gs.append(g)
                    cs.append(c)
                    hsOut.append(hv)
                    hPrev = hv
                    cPrev = c
                }
                gatesAll.append(gs)
                cAll.append(cs)
                hAll.append(hsOut)
                xs.append(Array(hsOut[1...]))
            }
            let (y, dTop) = dense(top: xs[layers], sequence: seq, elements: n, loss: &loss, grads: &grads)
            outputs += y
            // Backward through time, layer by layer from the top.
            var dAbove = dTop
            for l in stride(from: layers - 1, through: 0, by: -1) {
                let inDim = l == 0 ? d : h
                let wih = weights["lstm.weight_ih_l\(l)"]!, whh = weights["lstm.weight_hh_l\(l)"]!
                var dBelow = [[Double]](repeating: [Double](repeating: 0, count: inDim), count: steps)
                var dhNext = [Double](repeating: 0, count: h), dcNext = dhNext
                for t in stride(from: steps - 1, through: 0, by: -1) {
                    let g = gatesAll[l][t], c = cAll[l][t + 1], cPrev = cAll[l][t], hPrev = hAll[l][t]
                    var da = [Double](repeating: 0, count: 4 * h)
                    var dcPrev = [Double](repeating: 0, count: h)
                    for j in 0..<h {
                        let dh = dAbove[t][j] + dhNext[j]
                        let tc = tanh(c[j])
                        let dc = dcNext[j] + dh * g[3 * h + j] * (1 - tc * tc)
                        da[j] = dc * g[2 * h + j] * g[j] * (1 - g[j])
                        da[h + j] = dc * cPrev[j] * g[h + j] * (1 - g[h + j])
                        da[2 * h + j] = dc * g[j] * (1 - g[2 * h + j] * g[2 * h + j])
                        da[3 * h + j] = dh * tc * g[3 * h + j] * (1 - g[3 * h + j])
                        dcPrev[j] = dc * g[h + j]
                    }
                    var dhPrev = [Double](repeating: 0, count: h)
                    for r in 0..<(4 * h) {
                        grads["lstm.bias_ih_l\(l)"]![r] += da[r]
                        grads["lstm.bias_hh_l\(l)"]![r] += da[r]
                        for k in 0..<inDim {
                            grads["lstm.weight_ih_l\(l)"]![r * inDim + k] += da[r] * xs[l][t][k]
                            dBelow[t][k] += da[r] * wih[r * inDim + k]
                        }
                        for k in 0..<h {
                            grads["lstm.weight_hh_l\(l)"]![r * h + k] += da[r] * hPrev[k]
                            dhPrev[k] += da[r] * whh[r * h + k]
                        }
                    }
                    dhNext = dhPrev
                    dcNext = dcPrev
                }
                dAbove = dBelow
            }
        }
        return (loss, outputs, grads)
    }
}

/// Runs the fast path (one shard of all sequences) and returns loss, outputs [b x 15 x 49]
/// and gradients by name in PyTorch layout.
func fastForwardBackward(
    _ params: Parameters, _ data: PatchSet, shardSize: Int? = nil, format: PanelFormat = .preferred,
    feedback: FeedbackDraw? = nil
)
    -> (loss: Double, outputs: [Float], grads: [String: [Float]])
{
    let n = data.count, cfg = params.config
    let shard = shardSize ?? n
    let ws = BlockWorkspace(layout: params.layout, capacity: shard, shardSize: shard, format: format)
    let grad = FloatBuffer(count: params.layout.paddedCount)
    let part = FloatBuffer(count: params.layout.paddedCount)
    var outputs = [Float](repeating: 0, count: n * cfg.steps * cfg.outputSize)
    var sse = 0.0
    ws.prepareForward(params.buffer.pointer)
    ws.prepareBackward(params.buffer.pointer)
    let scale = Float(1 / Double(n * cfg.steps * cfg.outputSize))
    var lo = 0
    while lo < n {
        let hi = min(lo + shard, n), rows = hi - lo
        let idx = Array(lo..<hi)
        idx.withUnsafeBufferPointer { ws.load(data, indices: $0) }
        sse += ws.forward(params.buffer.pointer, rows: rows, feedback: feedback?.rows(from: lo))
        ws.backward(params.buffer.pointer, rows: rows, lossScale: scale, grad: part.pointer)
        for i in 0..<grad.count { grad[i] += part[i] }
        // outputs are time-major in the workspace: row t * rows + b.
        for b in 0..<rows {
            for t in 0..<cfg.steps {
                for o in 0..<cfg.outputSize {
                    outputs[((lo + b) * cfg.steps + t) * cfg.outputSize + o] = ws.outputs[(t * rows + b) * cfg.outputSize + o]
                }
            }
        }
        lo = hi
    }
    var grads: [String: [Float]] = [:]
    for v in params.layout.allViews { grads[v.name] = Parameters.torchOrder(v, grad.pointer) }
    return (sse / Double(n * cfg.steps * cfg.outputSize), outputs, grads)
}
