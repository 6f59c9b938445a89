import Foundation

@testable import PatchRNN

/// The straightforward implementation of the model with GRU layers: plain Double loops over
/// Swift arrays, one sequence and one time step at a time, weights in PyTorch's layout, with
/// exactly nn.GRU's semantics (gate rows r, z, n in that order):
///   r = σ(W_ir x + b_ir + W_hr h + b_hr)
///   z = σ(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
///   h' = (1 - z) ⊙ n + z ⊙ h
/// The fast path is checked against it, and it against PyTorch (Fixtures/golden_gru.json).
struct ReferenceGRU: ReferenceModel {
    static var cell: any RecurrentCell.Type { GRUCell.self }
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

    /// One step of layer `l`: the gates r, z, n, the recurrent part of n's pre-activation
    /// (hn = W_hn h + b_hn, which the backward pass needs) and the new hidden state.
    func cell(_ l: Int, _ input: [Double], _ hPrev: [Double])
        -> (r: [Double], z: [Double], n: [Double], hn: [Double], h: [Double])
    {
        let h = hidden, inDim = input.count
        let wih = weights["gru.weight_ih_l\(l)"]!, whh = weights["gru.weight_hh_l\(l)"]!
        let bih = weights["gru.bias_ih_l\(l)"]!, bhh = weights["gru.bias_hh_l\(l)"]!
        var gi = [Double](repeating: 0, count: 3 * h), gh = gi
        for row in 0..<(3 * h) {
            var s = bih[row]
            for k in 0..<inDim { s += wih[row * inDim + k] * input[k] }
            gi[row] = s
            s = bhh[row]
            for k in 0..<h { s += whh[row * h + k] * hPrev[k] }
            gh[row] = s
        }
        var r = [Double](repeating: 0, count: h), z = r, n = r, hn = r, hv = r
        for j in 0..<h {
            r[j] = sigmoid(gi[j] + gh[j])
            z[j] = sigmoid(gi[h + j] + gh[h + j])
            hn[j] = gh[2 * h + j]
            n[j] = tanh(gi[2 * h + j] + r[j] * hn[j])
            hv[j] = (1 - z[j]) * n[j] + z[j] * hPrev[j]
        }
        return (r, z, n, hn, hv)
    }

    /// Free-running generation of one sequence's 8 bottom-half patches: the 8 true top-half
    /// patches in, then each prediction, clipped to [0, 1], fed back. [8 x 49].
    func generate(_ seq: [Float]) -> [Double] {
        let h = hidden, top = Patches.topHalf
        var hs = [[Double]](repeating: [Double](repeating: 0, count: h), count: layers)
        var x = (0..<d).map { Double(seq[$0]) }
        var generated: [Double] = []
        for t in 0..<steps {
            if t < top { x = (0..<d).map { Double(seq[t * d + $0]) } }
            var input = x
            for l in 0..<layers {
                hs[l] = cell(l, input, hs[l]).h
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
        let h = hidden, b = sequences.count, count = Double(b * steps * d)
        var grads = weights.mapValues { [Double](repeating: 0, count: $0.count) }
        var loss = 0.0
        var outputs: [[Double]] = []
        for (i, seq) in sequences.enumerated() {
            let fed = inputs?[i] ?? seq
            // Forward, keeping every activation.
            var xs: [[[Double]]] = [(0..<steps).map { t in (0..<d).map { Double(fed[t * d + $0]) } }]
            var rAll: [[[Double]]] = [], zAll: [[[Double]]] = [], nAll: [[[Double]]] = []
            var hnAll: [[[Double]]] = [], hAll: [[[Double]]] = []
            for l in 0..<layers {
                var hPrev = [Double](repeating: 0, count: h)
                var rs: [[Double]] = [], zs: [[Double]] = [], ns: [[Double]] = [], hns: [[Double]] = []
                var hsOut: [[Double]] = [hPrev]
                for t in 0..<steps {
                    let c = cell(l, xs[l][t], hPrev)
                    rs.append(c.r)
                    zs.append(c.z)
                    ns.append(c.n)
                    hns.append(c.hn)
                    hsOut.append(c.h)
                    hPrev = c.h
                }
                rAll.append(rs)
                zAll.append(zs)
                nAll.append(ns)
                hnAll.append(hns)
                hAll.append(hsOut)
                xs.append(Array(hsOut[1...]))
            }
            let (y, dTop) = dense(top: xs[layers], sequence: seq, elements: count, loss: &loss, grads: &grads)
            outputs += y
            // Backward through time, layer by layer from the top.
            var dAbove = dTop
            for l in stride(from: layers - 1, through: 0, by: -1) {
                let inDim = l == 0 ? d : h
                let wih = weights["gru.weight_ih_l\(l)"]!, whh = weights["gru.weight_hh_l\(l)"]!
                var dBelow = [[Double]](repeating: [Double](repeating: 0, count: inDim), count: steps)
                var dhNext = [Double](repeating: 0, count: h)
                for t in stride(from: steps - 1, through: 0, by: -1) {
                    let r = rAll[l][t], z = zAll[l][t], n = nAll[l][t], hn = hnAll[l][t], hPrev = hAll[l][t]
                    // Gradients of the input-side (W_ih x + b_ih) and recurrent-side
                    // (W_hh h + b_hh) pre-activations; they differ only in the n rows, where
                    // the recurrent part is scaled by r.
                    var dgi = [Double](repeating: 0, count: 3 * h), dgh = dgi
                    var dhPrev = [Double](repeating: 0, count: h)
                    for j in 0..<h {
                        let dh = dAbove[t][j] + dhNext[j]
                        let dnPre = dh * (1 - z[j]) * (1 - n[j] * n[j])
                        let dzPre = dh * (hPrev[j] - n[j]) * z[j] * (1 - z[j])
                        let drPre = dnPre * hn[j] * r[j] * (1 - r[j])
                        dgi[j] = drPre
                        dgi[h + j] = dzPre
                        dgi[2 * h + j] = dnPre
                        dgh[j] = drPre
                        dgh[h + j] = dzPre
                        dgh[2 * h + j] = dnPre * r[j]
                        dhPrev[j] = dh * z[j]
                    }
                    for row in 0..<(3 * h) {
                        grads["gru.bias_ih_l\(l)"]![row] += dgi[row]
                        grads["gru.bias_hh_l\(l)"]![row] += dgh[row]
                        for k in 0..<inDim {
                            grads["gru.weight_ih_l\(l)"]![row * inDim + k] += dgi[row] * xs[l][t][k]
                            dBelow[t][k] += dgi[row] * wih[row * inDim + k]
                        }
                        for k in 0..<h {
                            grads["gru.weight_hh_l\(l)"]![row * h + k] += dgh[row] * hPrev[k]
                            dhPrev[k] += dgh[row] * whh[row * h + k]
                        }
                    }
                    dhNext = dhPrev
                }
                dAbove = dBelow
            }
        }
        return (loss, outputs, grads)
    }
}
