@testable import PatchRNN

/// A straightforward Double implementation of the whole model for one cell (ReferenceLSTM,
/// ReferenceGRU): what the fast path is checked against, for every cell by the same tests.
protocol ReferenceModel: Sendable {
    /// The cell it implements.
    static var cell: any RecurrentCell.Type { get }
    init(_ params: Parameters)
    var hidden: Int { get }
    /// Floats per patch (49) and input steps (15).
    var d: Int { get }
    var steps: Int { get }
    /// state_dict: name -> values (PyTorch layout); tests perturb it for finite differences.
    var weights: [String: [Double]] { get set }
    /// Mean-squared-error loss over batch x 15 x 49, the outputs, and every gradient, with the
    /// inputs `inputs` where given (else the sequences' own patches) and the true next patches
    /// as targets.
    func run(_ sequences: [[Float]], inputs: [[Float]]?) -> (loss: Double, outputs: [[Double]], grads: [String: [Double]])
    /// Free-running generation of one sequence's 8 bottom-half patches (clipped feedback).
    func generate(_ seq: [Float]) -> [Double]
}

extension ReferenceModel {
    func run(_ sequences: [[Float]]) -> (loss: Double, outputs: [[Double]], grads: [String: [Double]]) {
        run(sequences, inputs: nil)
    }

    /// Scheduled sampling, the straightforward way: the inputs each sequence is fed when
    /// `feeds(b, t)` says that input t (a bottom-half step) is the model's own clipped
    /// prediction of step t - 1, built one step at a time by rerunning the teacher-forced
    /// reference on the inputs so far; then the loss and gradients on those inputs (no
    /// gradient through the fed-back values, which are inputs like any other).
    func runSampled(_ sequences: [[Float]], feeds: (Int, Int) -> Bool)
        -> (loss: Double, outputs: [[Double]], grads: [String: [Double]], inputs: [[Float]])
    {
        var inputs = sequences
        for b in sequences.indices {
            for t in Patches.topHalf..<steps where feeds(b, t) {
                let outputs = run([sequences[b]], inputs: [inputs[b]]).outputs
                for o in 0..<d { inputs[b][t * d + o] = Float(min(1, max(0, outputs[t - 1][o]))) }
            }
        }
        let r = run(sequences, inputs: inputs)
        return (r.loss, r.outputs, r.grads, inputs)
    }

    /// The Dense layer over one sequence's top-layer states h_1..h_T, its share of the loss
    /// (sum of squared errors / `elements`) and its gradients: adds to `loss` and `grads`,
    /// returns the outputs and dL/dh of the top layer for every step.
    func dense(
        top: [[Double]], sequence seq: [Float], elements: Double, loss: inout Double,
        grads: inout [String: [Double]]
    ) -> (outputs: [[Double]], dTop: [[Double]]) {
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

/// The references, one per cell in `Cells.all`: the tests parameterised by cell look them up
/// here, so a new cell's line belongs here too.
let referenceModels: [any ReferenceModel.Type] = [ReferenceLSTM.self, ReferenceGRU.self]

/// A cell without a reference: the tests that need one fail with this rather than check the
/// cell against another cell's reference.
struct MissingReference: Error, CustomStringConvertible {
    let cell: String
    var description: String {
        "no reference model for the cell \(cell): write one (a ReferenceModel in plain Double loops with PyTorch's semantics, "
            + "like ReferenceGRU.swift) and add it to referenceModels in ReferenceModel.swift"
    }
}

/// The reference for the cell named `cellName`.
func referenceModelType(_ cellName: String) throws -> any ReferenceModel.Type {
    guard let reference = referenceModels.first(where: { $0.cell.name == cellName }) else { throw MissingReference(cell: cellName) }
    return reference
}

/// The reference of the cell `params` holds, with its weights.
func referenceModel(_ params: Parameters) throws -> any ReferenceModel {
    try referenceModelType(params.config.cellName).init(params)
}

/// The sequences of `data` as arrays, for the references.
func sequenceArrays(_ data: PatchSet) -> [[Float]] {
    (0..<data.count).map { Array(UnsafeBufferPointer(start: data.sequence($0), count: PatchSet.sequenceLength)) }
}
