/// Training loss, validation loss and (when measured) the validation free-running bottom-half
/// MSE per epoch as an SVG line chart (linear axes), with the kept epoch marked on the curve
/// that decided it: what the generated bottom halves follow is visible next to the losses.
package func lossPlotSVG(
    train: [Double], validation: [Double], validationBottom: [Double?] = [], bestEpoch: Int?,
    monitor: TrainingOptions.Monitor = .valLoss
) -> String {
    let w = 640.0, h = 400.0, left = 70.0, right = 20.0, top = 30.0, bottom = 50.0
    let bottomCurve = validationBottom.map { $0 ?? .nan }
    let hasBottom = bottomCurve.contains { $0.isFinite }
    let all = (train + validation + bottomCurve).filter { $0.isFinite }
    let lo = (all.min() ?? 0) * 0.95, hi = (all.max() ?? 1) * 1.02
    let n = max(train.count, validation.count, 2)
    func x(_ i: Int) -> Double { left + (w - left - right) * Double(i) / Double(n - 1) }
    func y(_ v: Double) -> Double { top + (h - top - bottom) * (1 - (v - lo) / max(hi - lo, 1e-12)) }
    func f(_ v: Double) -> String { String(format3(v)) }
    func line(_ vs: [Double], _ color: String, dashed: Bool = false) -> String {
        let pts = vs.enumerated().filter { $0.element.isFinite }.map { "\(f(x($0.offset))),\(f(y($0.element)))" }
        return
            "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6,3\"" : "") points=\"\(pts.joined(separator: " "))\"/>"
    }
    let colors = (train: "#1f77b4", validation: "#d62728", bottom: "#2ca02c")
    // The viewBox lets a page (report.html) scale the chart to its width.
    var s =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"\(Int(w / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">PatchRNN per epoch (MSE)</text>\n"
    s += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
    s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
    for k in 0...4 {
        let v = lo + (hi - lo) * Double(k) / 4
        s += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(format5(v))</text>\n"
        s += "<line x1=\"\(left)\" y1=\"\(f(y(v)))\" x2=\"\(w - right)\" y2=\"\(f(y(v)))\" stroke=\"#ddd\"/>\n"
    }
    let ticks = Set([0, (n - 1) / 2, n - 1])
    for i in ticks.sorted() {
        s += "<text x=\"\(f(x(i)))\" y=\"\(f(h - bottom + 18))\" text-anchor=\"middle\">\(i + 1)</text>\n"
    }
    s += "<text x=\"\(Int(w / 2))\" y=\"\(Int(h - 12))\" text-anchor=\"middle\">epoch</text>\n"
    s += line(train, colors.train) + "\n" + line(validation, colors.validation) + "\n"
    if hasBottom { s += line(bottomCurve, colors.bottom, dashed: true) + "\n" }
    // The kept epoch, on the curve that decided it, with a vertical guide.
    let decider =
        monitor == .valBottom && hasBottom ? (curve: bottomCurve, color: colors.bottom) : (curve: validation, color: colors.validation)
    if let b = bestEpoch, b >= 1, b <= decider.curve.count, decider.curve[b - 1].isFinite {
        s +=
            "<line x1=\"\(f(x(b - 1)))\" y1=\"\(top)\" x2=\"\(f(x(b - 1)))\" y2=\"\(h - bottom)\" stroke=\"#999\" stroke-dasharray=\"2,3\"/>\n"
        s += "<circle cx=\"\(f(x(b - 1)))\" cy=\"\(f(y(decider.curve[b - 1])))\" r=\"4\" fill=\"\(decider.color)\"/>\n"
        // The label right of the guide, or left of it where it would run off the chart.
        let leftOfGuide = x(b - 1) > w - right - 100
        s +=
            "<text x=\"\(f(x(b - 1) + (leftOfGuide ? -4 : 4)))\" y=\"\(Int(h - bottom - 6))\"\(leftOfGuide ? " text-anchor=\"end\"" : "") fill=\"#555\">kept: epoch \(b)</text>\n"
    }
    let lx = Int(w - right - 230)
    s += "<text x=\"\(lx)\" y=\"\(Int(top + 14))\" fill=\"\(colors.train)\">— train loss (as trained)</text>\n"
    s +=
        "<text x=\"\(lx)\" y=\"\(Int(top + 30))\" fill=\"\(colors.validation)\">— validation loss\(monitor == .valLoss ? " (• kept)" : "")</text>\n"
    if hasBottom {
        s +=
            "<text x=\"\(lx)\" y=\"\(Int(top + 46))\" fill=\"\(colors.bottom)\">- - validation free-running bottom\(monitor == .valBottom ? " (• kept)" : "")</text>\n"
    }
    s += "</svg>\n"
    return s
}

func format3(_ v: Double) -> String { String(Double(Int((v * 1000).rounded())) / 1000) }
func format5(_ v: Double) -> String {
    let r = (v * 100_000).rounded() / 100_000
    var s = String(r)
    if s.contains("e") { s = String(v) }
    return s
}
