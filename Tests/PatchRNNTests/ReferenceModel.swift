@testable import PatchRNN

/// A straightforward Double implementation of the whole model for one cell (ReferenceLSTM,
/// ReferenceGRU): what the fast path is checked against, for every cell by the same tests.
protocol ReferenceModel {
    init(_ params: Parameters)
    /// state_dict: name -> values (PyTorch layout); tests perturb it for finite differences.
    var weights: [String: [Double]] { get set }
    /// Mean-squared-error loss over batch x 15 x 49, the outputs, and every gradient.
    func run(_ sequences: [[Float]]) -> (loss: Double, outputs: [[Double]], grads: [String: [Double]])
    /// Free-running generation of one sequence's 8 bottom-half patches (clipped feedback).
    func generate(_ seq: [Float]) -> [Double]
}

extension ReferenceModel {
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
