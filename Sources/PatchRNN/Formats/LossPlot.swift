/// Training and validation loss per epoch as an SVG line chart (log-free, linear axes).
public func lossPlotSVG(train: [Double], validation: [Double], bestEpoch: Int?) -> String {
    let w = 640.0, h = 400.0, left = 70.0, right = 20.0, top = 30.0, bottom = 50.0
    let all = (train + validation).filter { $0.isFinite }
    let lo = (all.min() ?? 0) * 0.95, hi = (all.max() ?? 1) * 1.02
    let n = max(train.count, validation.count, 2)
    func x(_ i: Int) -> Double { left + (w - left - right) * Double(i) / Double(n - 1) }
    func y(_ v: Double) -> Double { top + (h - top - bottom) * (1 - (v - lo) / max(hi - lo, 1e-12)) }
    func f(_ v: Double) -> String { String(format3(v)) }
    func line(_ vs: [Double], _ color: String) -> String {
        let pts = vs.enumerated().filter { $0.element.isFinite }.map { "\(f(x($0.offset))),\(f(y($0.element)))" }
        return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>"
    }
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    s += "<text x=\"\(Int(w / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">PatchRNN loss per epoch (MSE)</text>\n"
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
    s += line(train, "#1f77b4") + "\n" + line(validation, "#d62728") + "\n"
    if let b = bestEpoch, b >= 1, b <= validation.count {
        s += "<circle cx=\"\(f(x(b - 1)))\" cy=\"\(f(y(validation[b - 1])))\" r=\"4\" fill=\"#d62728\"/>\n"
    }
    s += "<text x=\"\(Int(w - right - 150))\" y=\"\(Int(top + 14))\" fill=\"#1f77b4\">— train</text>\n"
    s += "<text x=\"\(Int(w - right - 150))\" y=\"\(Int(top + 30))\" fill=\"#d62728\">— validation (• best)</text>\n"
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
