import CZlib
import Foundation

/// A parsed IDX file (the MNIST container): big-endian u32 magic 0x000008TT (TT = 08: u8
/// data), big-endian u32 dimensions, then the raw data.
package struct IDXFile: Equatable, Sendable {
    package let dimensions: [Int]
    package let bytes: [UInt8]

    /// The most data an IDX file of this tool may hold (MNIST's largest file is 47 MB).
    package static let maxDataBytes = 1 << 31

    package init(dimensions: [Int], bytes: [UInt8]) {
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// What the header declares: the dimensions and the number of data bytes after it.
    struct Header {
        let dimensions: [Int]
        let size: Int
        let dataBytes: Int
    }

    /// Reads the header at the start of `data`, or says why it is not one. `readMore(n)` is
    /// asked for the header's dimensions once the rank is known (a stream reads them then).
    static func header(_ start: [UInt8], name: String, readMore: (Int) throws -> [UInt8]) throws -> Header {
        guard start.count >= 4 else {
            throw PatchRNNError.file(name, start.isEmpty ? "file is empty" : "too short for an IDX header (\(start.count) bytes)")
        }
        guard start[0] == 0, start[1] == 0 else {
            throw PatchRNNError.file(name, "not an IDX file (magic \(hex(start[0..<4])), expected 00 00 08 0N)")
        }
        guard start[2] == 0x08 else {
            throw PatchRNNError.file(
                name, "unsupported IDX data type 0x\(String(start[2], radix: 16)) (only unsigned bytes, 0x08, are MNIST)")
        }
        let rank = Int(start[3])
        guard (1...4).contains(rank) else { throw PatchRNNError.file(name, "IDX rank \(rank) is not 1-4") }
        let size = 4 + 4 * rank
        let data = Array(start.prefix(4)) + (try readMore(4 * rank))
        guard data.count >= size else { throw PatchRNNError.file(name, "truncated header: \(data.count) bytes, need \(size)") }
        var dims: [Int] = []
        var expected = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
            dims.append(v)
            let (p, overflow) = expected.multipliedReportingOverflow(by: v)
            guard !overflow, p <= maxDataBytes else {
                throw PatchRNNError.file(name, "dimensions \(dims) are implausibly large (more than \(maxDataBytes) bytes of data)")
            }
            expected = p
        }
        return Header(dimensions: dims, size: size, dataBytes: expected)
    }

    /// Parses IDX bytes; `name` goes into the error messages.
    package static func parse(_ data: [UInt8], name: String) throws -> IDXFile {
        let h = try header(Array(data.prefix(4)), name: name) { Array(data.dropFirst(4).prefix($0)) }
        let payload = data.count - h.size
        guard payload >= h.dataBytes else { throw truncated(name, h, has: payload) }
        guard payload == h.dataBytes else {
            throw PatchRNNError.file(name, "\(payload - h.dataBytes) unexpected bytes after the data (dimensions \(h.dimensions))")
        }
        return IDXFile(dimensions: h.dimensions, bytes: Array(data[h.size...]))
    }

    static func truncated(_ name: String, _ h: Header, has: Int) -> PatchRNNError {
        PatchRNNError.file(
            name,
            "truncated: dimensions \(h.dimensions.map(String.init).joined(separator: "x")) need \(h.dataBytes) data bytes, file has \(has)")
    }

    /// Reads a file, gzip'd or not, checking before anything large is read or allocated
    /// (`open`); then exactly the declared bytes are read, and one more must not exist.
    package static func read(path: String) throws -> IDXFile {
        let (stream, h) = try open(path: path)
        Memory.checkAvailable(bytes: h.dataBytes, for: "the data of \(path)")
        let data = try stream.read(h.dataBytes)
        guard data.count == h.dataBytes else {
            guard stream.isGzip else { throw truncated(path, h, has: data.count) }
            throw PatchRNNError.file(
                path,
                "truncated gzip stream: dimensions \(h.dimensions.map(String.init).joined(separator: "x")) need \(h.dataBytes) data bytes, it holds \(data.count)"
            )
        }
        guard try stream.read(1).isEmpty else {
            throw PatchRNNError.file(path, "unexpected bytes after the data (dimensions \(h.dimensions))")
        }
        try stream.checkEnd()
        return IDXFile(dimensions: h.dimensions, bytes: data)
    }

    /// The dimensions a file declares, with every check of `read` that needs no data: quick
    /// (the header only), so that a command can check its data files before it creates
    /// anything.
    package static func dimensions(path: String) throws -> [Int] {
        try open(path: path).header.dimensions
    }

    /// Opens a data file and reads its header. Only a regular file is opened (a FIFO, a device
    /// such as /dev/zero, a socket are refused at once, never waited on), and the sizes the
    /// header declares must fit the file: exactly for a plain file, and within deflate's
    /// largest ratio (1032:1) for a gzip'd one, so that a header, or a gzip bomb, that promises
    /// more than the file can hold is refused before anything is decompressed or allocated.
    static func open(path: String) throws -> (stream: GzipReader, header: Header) {
        let fd = Foundation.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // O_NONBLOCK: a FIFO must not block the open
        guard fd >= 0 else {
            throw PatchRNNError.file(path, errno == ENOENT ? "no such file" : "cannot open for reading (\(systemError()))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = systemError()
            close(fd)
            throw PatchRNNError.file(path, "cannot read (\(e))")
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(fd)
            throw PatchRNNError.file(
                path,
                kind == S_IFDIR
                    ? "is a directory, expected a file" : "is not a regular file (a device, FIFO or socket), expected an IDX file")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        let fileSize = Int(st.st_size)
        var magic: [UInt8] = [0, 0]
        let isGzip = pread(fd, &magic, 2, 0) == 2 && magic == [0x1F, 0x8B]
        guard let gz = gzdopen(fd, "rb") else {
            close(fd)
            throw PatchRNNError.file(path, "cannot open for reading (\(systemError()))")
        }
        let stream = GzipReader(gz, path: path, isGzip: isGzip)
        let start = try stream.read(4)
        if start.count < 4 && isGzip { try stream.checkEnd() }  // a gzip stream cut short, not an empty file
        let h = try header(start, name: path) { try stream.read($0) }
        if isGzip {
            let (room, overflow) = fileSize.multipliedReportingOverflow(by: 1032)
            guard overflow || h.dataBytes <= room else {
                throw PatchRNNError.file(
                    path,
                    "truncated or not this file: dimensions \(h.dimensions.map(String.init).joined(separator: "x")) need \(h.dataBytes) data bytes, more than a gzip file of \(fileSize) bytes can hold"
                )
            }
        } else {
            let room = fileSize - h.size
            guard room >= h.dataBytes else { throw truncated(path, h, has: max(room, 0)) }
            guard room == h.dataBytes else {
                throw PatchRNNError.file(path, "\(room - h.dataBytes) unexpected bytes after the data (dimensions \(h.dimensions))")
            }
        }
        return (stream, h)
    }
}

private func hex(_ b: ArraySlice<UInt8>) -> String {
    b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
}

/// Reading a file through zlib (it owns the file: closing it closes the file) (a gzip stream is decompressed, a plain file passes through),
/// with every stream error as a one-line error naming the file.
final class GzipReader {
    let gz: gzFile
    let path: String
    /// A gzip stream (else a plain file that zlib passes through).
    let isGzip: Bool
    init(_ gz: gzFile, path: String, isGzip: Bool) {
        self.gz = gz
        self.path = path
        self.isGzip = isGzip
    }
    deinit { gzclose(gz) }

    /// Up to `count` bytes (fewer only at the end of the data).
    func read(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let want = UInt32(min(count - done, 1 << 30))
            let n = out.withUnsafeMutableBytes { gzread(gz, $0.baseAddress! + done, want) }
            if n < 0 { throw PatchRNNError.file(path, "corrupt gzip stream (\(zlibMessage("read error")))") }
            if n == 0 { break }
            done += Int(n)
        }
        if done < count { out.removeLast(count - done) }
        return out
    }

    /// A gzip stream cut short reads as the end without an error from gzread on some zlib
    /// versions; gzerror then reports Z_BUF_ERROR ("unexpected end of file").
    func checkEnd() throws {
        var code: Int32 = 0
        _ = gzerror(gz, &code)
        if code != Z_OK { throw PatchRNNError.file(path, "corrupt or truncated gzip stream (\(zlibMessage("")))") }
    }

    /// zlib's words for the stream's error, without the "<fd:3>: " it puts before them when
    /// the file was opened from a descriptor.
    private func zlibMessage(_ fallback: String) -> String {
        var code: Int32 = 0
        var text = gzerror(gz, &code).map { String(cString: $0) } ?? fallback
        if text.hasPrefix("<fd:"), let colon = text.range(of: ": ") { text = String(text[colon.upperBound...]) }
        return text
    }
}
