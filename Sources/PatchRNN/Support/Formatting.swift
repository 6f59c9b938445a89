import Foundation

// Numbers as the tool shows them to people and writes them into files.

package func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

package func duration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}

extension Float {
    /// The Double a person reads in this Float's shortest decimal form (1e-3 as 0.001, not
    /// 0.0010000000474974513), for JSON files and reports.
    package var decimal: Double { Double(description) ?? Double(self) }
}
