import Foundation

// TensorBoard event files, written by hand: TFRecord framing around `Event` protocol buffers
// (tensorflow/core/util/event.proto, summary.proto, tensor.proto). Only the fields written here
// are encoded; field numbers are the protos'.

/// The protocol-buffer wire format, as far as events need it.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    /// int32/int64/enum (wire type 0; negative values as 10-byte two's complement).
    mutating func int(_ field: Int, _ value: Int) {
        key(field, 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }
}

/// One `Event` message each: what a TensorBoard event file holds.
package enum TensorBoardEvent {
    /// The first record of every file: `file_version` "brain.Event:2".
    package static func fileVersion(wallTime: Double) -> [UInt8] {
        event(step: 0, wallTime: wallTime) { $0.string(3, "brain.Event:2") }
    }

    /// `session_log { status: START }` at `step`: TensorBoard drops what earlier files of the
    /// folder hold at this step and later ones (a resumed or repeated run replaces them).
    package static func sessionStart(step: Int, wallTime: Double) -> [UInt8] {
        event(step: step, wallTime: wallTime) { e in e.message(7) { $0.int(1, 1) } }
    }

    /// Scalars (`Summary.Value.simple_value`), one value per tag.
    package static func scalars(_ values: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        summary(step: step, wallTime: wallTime) { s in
            for (tag, value) in values {
                s.message(1) { v in
                    v.string(1, tag)
                    v.float(2, value)
                }
            }
        }
    }

    /// An image (`Summary.Value.image`): PNG bytes and their size (colorspace 3: RGB).
    package static func image(tag: String, png: [UInt8], width: Int, height: Int, step: Int, wallTime: Double) -> [UInt8] {
        summary(step: step, wallTime: wallTime) { s in
            s.message(1) { v in
                v.string(1, tag)
                v.message(4) { i in
                    i.int(1, height)
                    i.int(2, width)
                    i.int(3, 3)
                    i.bytes(4, png)
                }
            }
        }
    }

    /// Text (Markdown) as TensorBoard's text plugin reads it: a string tensor of shape [1]
    /// (`TensorProto` dtype DT_STRING = 7, `string_val`) with summary metadata naming the
    /// plugin "text", as `tf.summary.text` and PyTorch's `add_text` write it.
    package static func text(tag: String, _ text: String, step: Int, wallTime: Double) -> [UInt8] {
        summary(step: step, wallTime: wallTime) { s in
            s.message(1) { v in
                v.string(1, tag)
                v.message(9) { m in m.message(1) { $0.string(1, "text") } }  // metadata.plugin_data.plugin_name
                v.message(8) { t in
                    t.int(1, 7)  // dtype DT_STRING
                    t.message(2) { shape in shape.message(2) { $0.int(1, 1) } }  // tensor_shape { dim { size: 1 } }
                    t.string(8, text)  // string_val
                }
            }
        }
    }

    static func summary(step: Int, wallTime: Double, _ values: (inout ProtobufWriter) -> Void) -> [UInt8] {
        event(step: step, wallTime: wallTime) { $0.message(5, values) }
    }

    static func event(step: Int, wallTime: Double, _ body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var e = ProtobufWriter()
        e.double(1, wallTime)
        if step != 0 { e.int(2, step) }  // proto3: a zero step is left out
        body(&e)
        return e.bytes
    }
}

/// TFRecord framing: u64 length (little-endian), masked CRC-32C of those 8 bytes, the data,
/// masked CRC-32C of the data.
package enum TFRecord {
    package static func frame(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(data.count + 16)
        let length = UInt64(data.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        appendLittleEndian(CRC32C.masked(out[0..<8]), to: &out)
        out.append(contentsOf: data)
        appendLittleEndian(CRC32C.masked(data), to: &out)
        return out
    }

    static func appendLittleEndian(_ v: UInt32, to out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }
}

/// An event file of its own in a TensorBoard log folder
/// (`events.out.tfevents.<seconds>.<host>.<pid>.<n>`, the name TensorFlow and PyTorch give
/// theirs), opened for appending; its first record is the file version. Each `write` appends
/// whole records in one system call and syncs them, so a reader sees complete records.
package final class TensorBoardWriter {
    package let path: String
    private let fd: Int32

    package init(directory: String, wallTime: Double = Date().timeIntervalSince1970) throws {
        try prepareOutputDirectory(directory, what: "TensorBoard folder")
        var name = [UInt8](repeating: 0, count: 256)
        let named =
            name.withUnsafeMutableBufferPointer {
                gethostname(UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), 255)
            } == 0
        let host = named ? String(decoding: name.prefix { $0 != 0 }, as: UTF8.self) : "localhost"
        let stem = directory + "/events.out.tfevents.\(Int(wallTime)).\(host).\(getpid())."
        var n = 0, descriptor: Int32 = -1
        repeat {  // a file of its own, never appended to another run's
            descriptor = open(stem + "\(n)", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0o644)
            n += 1
        } while descriptor < 0 && errno == EEXIST && n < 1000
        path = stem + "\(n - 1)"
        guard descriptor >= 0 else { throw PatchRNNError.file(path, "cannot create TensorBoard event file (\(systemError()))") }
        fd = descriptor
        try write([TensorBoardEvent.fileVersion(wallTime: wallTime)])
    }

    deinit { close(fd) }

    /// Appends the events (each framed as a TFRecord) and syncs the file.
    package func write(_ events: [[UInt8]]) throws {
        let bytes = events.flatMap(TFRecord.frame)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw PatchRNNError.file(path, "write failed (\(n < 0 ? systemError() : "nothing written"))") }
            offset += n
        }
        guard fsync(fd) == 0 || errno == EINVAL else { throw PatchRNNError.file(path, "could not flush to disk (\(systemError()))") }
    }
}
