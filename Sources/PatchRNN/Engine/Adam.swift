import Foundation
import PatchRNNKernels

/// Adam hyper-parameters (PyTorch's defaults).
public struct AdamConfig: Sendable, Equatable, Codable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public init(learningRate: Float = 1e-3) { self.learningRate = learningRate }

    /// The constants of update number `step` (from 1), computed in Double as PyTorch does and
    /// handed to the fused sum-and-update kernel (`reduceAndAdamUpdate`).
    public func coefficients(step: Int) -> AdamCoefficients {
        let t = Double(step)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2 = 1 - pow(Double(beta2), t)
        return AdamCoefficients(
            stepSize: Float(Double(learningRate) / bc1), biasCorrection2Sqrt: Float(bc2.squareRoot()),
            beta1: beta1, beta2: beta2, epsilon: epsilon)
    }
}

/// Adam's state: the moments share the parameter layout; `step` counts updates.
public final class AdamState: @unchecked Sendable {
    public let m: FloatBuffer
    public let v: FloatBuffer
    public var step: Int = 0

    public init(count: Int) {
        m = FloatBuffer(count: count, what: "Adam's moments")
        v = FloatBuffer(count: count, what: "Adam's moments")
    }

    /// With the moments' pages first touched by `firstTouch` (see `FloatBuffer`).
    init(count: Int, firstTouch: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        m = try FloatBuffer(count: count, what: "Adam's moments", firstTouch: firstTouch)
        v = try FloatBuffer(count: count, what: "Adam's moments", firstTouch: firstTouch)
    }
}
