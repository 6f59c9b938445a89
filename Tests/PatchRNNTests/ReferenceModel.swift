@testable import PatchRNN

/// A straightforward Double implementation of the whole model for one cell (ReferenceLSTM,
/// ReferenceGRU): what the fast path is checked against, for every cell by the same tests.
protocol ReferenceModel {
    init(_ params: Parameters)
    var hidden: Int { get }
    /// Floats per patch (49) and input steps (15).
    var d: Int { get }
    var steps: Int { get }
    /// state_dict: name -> values (PyTorch layout); tests perturb it for finite differences.
    var weights: [String: [Double]] { get set }
    /// Mean-squared-error loss over batch x 15 x 49, the outputs, and every gradient.
    func run(_ sequences: [[Float]]) -> (loss: Double, outputs: [[Double]], grads: [String: [Double]])
    /// Free-running generation of one sequence's 8 bottom-half patches (clipped feedback).
    func generate(_ seq: [Float]) -> [Double]
}

extension ReferenceModel {
    /// The Dense layer over one sequence's top-layer states h_1..h_T, its share of the loss
    /// (sum of squared errors / `elements`) and its gradients: adds to `loss` and `grads`,
    /// returns the outputs and dL/dh of the top layer for every step.
    func dense(top: [[Double]], sequence seq: [Float], elements: Double, loss: inout Double,
               grads: inout [String: [Double]]) -> (outputs: [[Double]], dTop: [[Double]]) {
        let h = hidden
        let wd = weights["linear.weight"]!, bd = weights["linear.bias"]!
        var outputs: [[Double]] = []
        var dTop = [[Double]](repeating: [Double](repeating: 0, count: h), count: steps)
        for t in 0..<steps {
            var y = [Double](repeating: 0, count: d)
            for o in 0..<d {
                var s = bd[o]
                for k in 0..<h { s += wd[o * h + k] * top[t][k] }
                y[o] = s
                let diff = s - Double(seq[(t + 1) * d + o])
                loss += diff * diff / elements
                let dy = 2 * diff / elements
                grads["linear.bias"]![o] += dy
                for k in 0..<h {
                    grads["linear.weight"]![o * h + k] += dy * top[t][k]
                    dTop[t][k] += dy * wd[o * h + k]
                }
            }
            outputs.append(y)
        }
        return (outputs, dTop)
    }

    /// The parameters in PyTorch's layout, in Double.
    static func stateDict(_ params: Parameters) -> [String: [Double]] {
        var w: [String: [Double]] = [:]
        for v in params.layout.allViews { w[v.name] = params.torchTensor(v).map(Double.init) }
        return w
    }
}

/// The reference of the cell `params` holds.
func referenceModel(_ params: Parameters) -> any ReferenceModel {
    switch params.config.cellName {
    case GRUCell.name: return ReferenceGRU(params)
    default: return ReferenceLSTM(params)
    }
}

/// The sequences of `data` as arrays, for the references.
func sequenceArrays(_ data: PatchSet) -> [[Float]] {
    (0..<data.count).map { Array(UnsafeBufferPointer(start: data.sequence($0), count: PatchSet.sequenceLength)) }
}
