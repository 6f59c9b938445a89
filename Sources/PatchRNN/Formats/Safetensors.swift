import Foundation

/// Checkpoints in the safetensors format with PyTorch state_dict names and layouts:
/// `torch.nn.LSTM(49, H, L, batch_first=True)` (or the cell's module) + `nn.Linear(H, 49)`
/// load them with load_state_dict. Layout: u64 little-endian header length, a JSON
/// header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, the data.
public enum Safetensors {
    /// Serialises the model parameters (and optional extra F32 tensors, e.g. optimizer state).
    public static func encode(
        _ params: Parameters, metadata: [String: String],
        extra: [(name: String, values: [Float])] = []
    ) throws -> [UInt8] {
        // The tensors in torch order, then the file: about twice the data.
        Memory.checkAvailable(
            bytes: 8 * (params.layout.parameterCount + extra.reduce(0) { $0 + $1.values.count }), for: "writing a checkpoint")
        var tensors: [(String, [Int], [Float])] = params.layout.allViews.map { ($0.name, $0.torchShape, params.torchTensor($0)) }
        tensors += extra.map { ($0.name, [$0.values.count], $0.values) }
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for (name, shape, values) in tensors {
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [offset, offset + values.count * 4]] as [String: Any]
            offset += values.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for (_, _, values) in tensors {
            values.withUnsafeBytes { out.append(contentsOf: $0) }  // little-endian on every supported target
        }
        return out
    }

    /// Writes a checkpoint (atomically: a temporary file, fsync, rename).
    /// - Parameters:
    ///   - params: The weights, written under PyTorch's state_dict names.
    ///   - metadata: The header's `__metadata__` (`TrainingOptions.summary` for a run's).
    ///   - path: Where to write it.
    ///   - extra: More float32 tensors (a resume state's `optimizer.*`).
    /// - Throws: `PatchRNNError` when the file cannot be written.
    public static func save(
        _ params: Parameters, metadata: [String: String], to path: String,
        extra: [(name: String, values: [Float])] = []
    ) throws {
        try writeFileAtomically(encode(params, metadata: metadata, extra: extra), to: path)
    }

    /// A parsed checkpoint: tensors by name (torch layout) and metadata.
    public struct File {
        public let tensors: [String: (shape: [Int], values: [Float])]
        public let metadata: [String: String]
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> File {
        guard bytes.count >= 8 else {
            throw PatchRNNError.file(name, "truncated: \(bytes.count) bytes, a safetensors file starts with an 8-byte header length")
        }
        var len: UInt64 = 0
        for i in 0..<8 { len |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard len > 0, len <= UInt64(bytes.count - 8), len < 100_000_000 else {
            throw PatchRNNError.file(
                name, "header length \(len) does not fit the file (\(bytes.count) bytes): truncated or not a safetensors file")
        }
        let headerEnd = 8 + Int(len)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])),
            let header = object as? [String: Any]
        else {
            throw PatchRNNError.file(name, "header is not a JSON object: not a safetensors file")
        }
        let dataSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var entries: [(key: String, shape: [Int], start: Int, end: Int)] = []
        for (key, value) in header {
            if key == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw PatchRNNError.file(name, "tensor \(key): malformed header entry")
            }
            guard dtype == "F32" else { throw PatchRNNError.file(name, "tensor \(key) has dtype \(dtype), expected F32") }
            // The element count, checked: a shape whose product overflows is simply wrong.
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow, p <= dataSize / 4 else {
                    throw PatchRNNError.file(name, "tensor \(key): shape \(shape) is larger than the \(dataSize) data bytes")
                }
                count = p
            }
            guard offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw PatchRNNError.file(name, "tensor \(key): data offsets \(offsets) are not a range (begin, end)")
            }
            guard offsets[1] <= dataSize else {
                throw PatchRNNError.file(
                    name, "tensor \(key): data offsets \(offsets) lie outside the \(dataSize) data bytes (truncated file?)")
            }
            guard offsets[1] - offsets[0] == count * 4 else {
                throw PatchRNNError.file(
                    name, "tensor \(key): shape \(shape) needs \(count * 4) bytes, offsets give \(offsets[1] - offsets[0])")
            }
            entries.append((key, shape, offsets[0], offsets[1]))
        }
        // Tensors may not share bytes (the format says so), so all of them together are at most
        // the file: nothing below allocates more than the file holds.
        entries.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        for (a, b) in zip(entries, entries.dropFirst()) where b.start < a.end {
            throw PatchRNNError.file(name, "tensors \(a.key) and \(b.key) overlap in the data")
        }
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for e in entries {
            var values = [Float](repeating: 0, count: (e.end - e.start) / 4)
            values.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(headerEnd + e.start)..<(headerEnd + e.end)]))
                }
            }
            tensors[e.key] = (e.shape, values)
        }
        return File(tensors: tensors, metadata: metadata)
    }

    /// The model a state_dict describes: the cell from the names of its tensors
    /// (`lstm.weight_hh_l0`, ...), hidden and layers from their shapes.
    public static func inferConfig(_ file: File, name: String) throws -> ModelConfig {
        guard let cell = Cells.all.first(where: { file.tensors["\($0.name).weight_hh_l0"] != nil }),
            let hh = file.tensors["\(cell.name).weight_hh_l0"], hh.shape.count == 2
        else {
            let expected = Cells.names.map { "\($0).weight_hh_l0" }.joined(separator: " or ")
            throw PatchRNNError.file(name, "missing tensor \(expected): not a PatchRNN / PyTorch recurrent-model checkpoint")
        }
        let hidden = hh.shape[1]
        var layers = 0
        while file.tensors["\(cell.name).weight_ih_l\(layers)"] != nil { layers += 1 }
        let limits = TrainingOptions.limits
        guard (1...limits.hidden).contains(hidden), (1...limits.layers).contains(layers) else {
            throw PatchRNNError.file(name, "cannot tell the model shape from the tensors (hidden \(hidden), \(layers) layers)")
        }
        return ModelConfig(cell: cell, hidden: hidden, layers: layers)
    }

    /// Loads parameters, checking every name, shape and dtype against `config` (inferred from
    /// the file when nil). Extra tensors under "optimizer." are allowed; others are reported.
    /// - Parameters:
    ///   - path: A checkpoint of PatchRNN's or a PyTorch state_dict saved as safetensors.
    ///   - config: The shape it must have (nil: inferred from its tensors).
    /// - Returns: The weights and the parsed file (its header and metadata).
    /// - Throws: `PatchRNNError` naming the file and what is wrong with it.
    public static func load(path: String, config: ModelConfig? = nil) throws -> (Parameters, File) {
        // A checkpoint can hold at most what memory can.
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = try readFileContents(path, limit: physical > 0 ? physical : Int.max, what: "checkpoint file")
        let file = try decode(bytes, name: path)
        return (try parameters(file, name: path, config: config), file)
    }

    /// The parameters a decoded checkpoint holds, every name and shape checked against `config`
    /// (inferred from the file when nil) before anything is allocated.
    public static func parameters(_ file: File, name path: String, config: ModelConfig? = nil) throws -> Parameters {
        let cfg = try config ?? inferConfig(file, name: path)
        // Every tensor is checked against the layout before the parameters are allocated.
        let layout = ParameterLayout(cfg)
        var problems: [String] = []
        for v in layout.allViews {
            guard let t = file.tensors[v.name] else {
                problems.append("missing \(v.name) \(v.torchShape)")
                continue
            }
            if t.shape != v.torchShape {
                problems.append(
                    "\(v.name) has shape \(t.shape), the model (\(cfg.cell.title), hidden \(cfg.hidden), \(cfg.layers) layers) needs \(v.torchShape)"
                )
            }
        }
        let known = Set(layout.allViews.map(\.name))
        for k in file.tensors.keys.sorted() where !known.contains(k) && !k.hasPrefix("optimizer.") {
            problems.append("unexpected tensor \(k)")
        }
        if !problems.isEmpty {
            throw PatchRNNError.file(path, "does not match the model: " + problems.joined(separator: "; "))
        }
        // A NaN or an infinity would only come out as NaN metrics and a grey grid: refused,
        // naming the tensor, as training refuses a non-finite loss.
        for v in layout.allViews {
            let values = file.tensors[v.name]!.values
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                throw PatchRNNError.file(
                    path, "tensor \(v.name) holds \(values[i]) (element \(i)): the weights of a run that diverged, or a damaged file")
            }
        }
        let params = Parameters(layout: layout)
        for v in layout.allViews { params.setTorchTensor(v, file.tensors[v.name]!.values) }
        return params
    }
}
