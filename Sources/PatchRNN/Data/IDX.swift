import CZlib

/// A parsed IDX file (the MNIST container): big-endian u32 magic 0x000008TT (TT = 08: u8
/// data), big-endian u32 dimensions, then the raw data.
public struct IDXFile: Equatable, Sendable {
    public let dimensions: [Int]
    public let bytes: [UInt8]

    public init(dimensions: [Int], bytes: [UInt8]) {
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// Parses IDX bytes; `name` goes into the error messages.
    public static func parse(_ data: [UInt8], name: String) throws -> IDXFile {
        guard data.count >= 4 else {
            throw PatchRNNError.file(name, data.isEmpty ? "file is empty" : "too short for an IDX header (\(data.count) bytes)")
        }
        guard data[0] == 0, data[1] == 0 else {
            throw PatchRNNError.file(name, "not an IDX file (magic \(hex(data[0..<4])), expected 00 00 08 0N)")
        }
        guard data[2] == 0x08 else {
            throw PatchRNNError.file(name, "unsupported IDX data type 0x\(String(data[2], radix: 16)) (only unsigned bytes, 0x08, are MNIST)")
        }
        let rank = Int(data[3])
        guard (1...4).contains(rank) else { throw PatchRNNError.file(name, "IDX rank \(rank) is not 1-4") }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else {
            throw PatchRNNError.file(name, "truncated header: \(data.count) bytes, need \(headerSize)")
        }
        var dims: [Int] = []
        var expected = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
            dims.append(v)
            let (p, overflow) = expected.multipliedReportingOverflow(by: v)
            guard !overflow, p <= 1 << 34 else { throw PatchRNNError.file(name, "dimensions \(dims) are implausibly large") }
            expected = p
        }
        let payload = data.count - headerSize
        guard payload >= expected else {
            throw PatchRNNError.file(name, "truncated: dimensions \(dims.map(String.init).joined(separator: "x")) need \(expected) data bytes, file has \(payload)")
        }
        guard payload == expected else {
            throw PatchRNNError.file(name, "\(payload - expected) unexpected bytes after the data (dimensions \(dims))")
        }
        return IDXFile(dimensions: dims, bytes: Array(data[headerSize...]))
    }

    /// Reads a file, gzip'd or not (zlib passes plain files through), and parses it.
    public static func read(path: String) throws -> IDXFile {
        try parse(readMaybeGzip(path: path), name: path)
    }
}

private func hex(_ b: ArraySlice<UInt8>) -> String {
    b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
}

/// The whole content of a file, decompressed when it is gzip'd. Errors name the file.
public func readMaybeGzip(path: String) throws -> [UInt8] {
    var isDirectory = false
    guard fileExists(path, isDirectory: &isDirectory) else { throw PatchRNNError.file(path, "no such file") }
    if isDirectory { throw PatchRNNError.file(path, "is a directory, expected a file") }
    guard let gz = gzopen(path, "rb") else { throw PatchRNNError.file(path, "cannot open for reading (\(systemError()))") }
    defer { gzclose(gz) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
        if n < 0 {
            var code: Int32 = 0
            let message = gzerror(gz, &code).map { String(cString: $0) } ?? "read error"
            throw PatchRNNError.file(path, "corrupt gzip stream (\(message))")
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<Int(n)])
        if out.count > 1 << 31 { throw PatchRNNError.file(path, "larger than 2 GiB decompressed; not an MNIST file") }
    }
    // A gzip stream cut short reads as EOF without an error from gzread on some zlib versions;
    // gzerror then reports Z_BUF_ERROR ("unexpected end of file").
    var code: Int32 = 0
    let message = gzerror(gz, &code).map { String(cString: $0) } ?? ""
    if code != Z_OK { throw PatchRNNError.file(path, "corrupt or truncated gzip stream (\(message))") }
    return out
}
