/// The value of one setting as every file records it: a JSON scalar (a whole number, a real
/// number or a word), or absent. One spelling for the resume state, checkpoint metadata,
/// metrics.json, trace.json and TensorBoard's hyper-parameters (`TrainingOptions.fields`).
public enum SettingValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case integer(Int)
    case real(Double)
    case word(String)
    /// No value: "all" for the training-image limit.
    case absent

    /// The text of checkpoint metadata and TensorBoard ("64", "0.002", "lstm", "none").
    public var description: String {
        switch self {
        case .integer(let v): return "\(v)"
        case .real(let v): return "\(v)"
        case .word(let v): return v
        case .absent: return "none"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .absent
        } else if let v = try? c.decode(Int.self) {
            self = .integer(v)
        } else if let v = try? c.decode(Double.self) {
            self = .real(v)
        } else {
            self = .word(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .integer(let v): try c.encode(v)
        case .real(let v): try c.encode(v)
        case .word(let v): try c.encode(v)
        case .absent: try c.encodeNil()
        }
    }

    /// Checkpoint metadata holds text: "64" is a whole number, "0.002" a real one, anything
    /// else a word.
    public init(text: String) {
        if let v = Int(text) {
            self = .integer(v)
        } else if UInt64(text) != nil {
            self = .word(text)  // a seed above Int.max, as the seed's field records it
        } else if let v = Double(text), text != "nan", text != "inf" {
            self = .real(v)
        } else {
            self = text == "none" ? .absent : .word(text)
        }
    }

    var integer: Int? {
        switch self {
        case .integer(let v): return v
        case .real(let v): return v.rounded() == v && abs(v) < 0x1p62 ? Int(v) : nil
        default: return nil
        }
    }

    var real: Double? {
        switch self {
        case .integer(let v): return Double(v)
        case .real(let v): return v
        default: return nil
        }
    }
}

/// A setting's key in a JSON object (the schema's keys are not a fixed enum of each type).
struct SettingKey: CodingKey {
    let stringValue: String
    init(_ s: String) { stringValue = s }
    init?(stringValue s: String) { stringValue = s }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}
