import Foundation
import Testing

@testable import PatchRNN

/// `--tensorboard DIR`: the event files are decoded here from their bytes (TFRecord framing,
/// both CRCs, the protocol buffers), without Python and without the writer's own code: the CRC
/// and the protobuf reader below are separate implementations.
@Suite("TensorBoard event files", .serialized)
struct TensorBoardTests {
    // MARK: A reader of its own

    /// CRC-32C bit by bit (no table), to check the library's table-driven one and the files.
    static func bitwiseCRC32C(_ bytes: some Collection<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (0x82F6_3B78 & (0 &- (c & 1))) }
        }
        return ~c
    }

    static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    static func le<T: FixedWidthInteger>(_ b: ArraySlice<UInt8>, _ type: T.Type) -> T {
        b.reversed().reduce(T.zero) { $0 << 8 | T($1) }
    }

    /// The records of a TFRecord file; throws on a truncated record or a wrong CRC.
    static func records(_ file: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = [], o = 0
        while o < file.count {
            guard file.count - o >= 12 else { throw PatchRNNError("truncated record header at \(o)") }
            let length = Int(le(file[o..<(o + 8)], UInt64.self))
            guard le(file[(o + 8)..<(o + 12)], UInt32.self) == mask(bitwiseCRC32C(file[o..<(o + 8)])) else {
                throw PatchRNNError("wrong length CRC in the record at \(o)")
            }
            guard file.count - o - 12 >= length + 4 else { throw PatchRNNError("truncated record at \(o)") }
            let data = Array(file[(o + 12)..<(o + 12 + length)])
            guard le(file[(o + 12 + length)..<(o + 16 + length)], UInt32.self) == mask(bitwiseCRC32C(data)) else {
                throw PatchRNNError("wrong data CRC in the record at \(o)")
            }
            out.append(data)
            o += 16 + length
        }
        return out
    }

    enum Field: Equatable {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes([UInt8])
        var int: Int? {
            if case .varint(let v) = self { return Int(truncatingIfNeeded: v) }
            return nil
        }
        var double: Double? {
            if case .fixed64(let v) = self { return Double(bitPattern: v) }
            return nil
        }
        var float: Float? {
            if case .fixed32(let v) = self { return Float(bitPattern: v) }
            return nil
        }
        var data: [UInt8]? {
            if case .bytes(let v) = self { return v }
            return nil
        }
        var string: String? { data.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// A protocol-buffer message as (field number, value) pairs in order.
    struct Message {
        var fields: [(Int, Field)] = []
        init(_ b: [UInt8]) throws {
            var i = 0
            func varint() throws -> UInt64 {
                var v: UInt64 = 0, shift: UInt64 = 0
                while true {
                    guard i < b.count, shift < 64 else { throw PatchRNNError("bad varint") }
                    let byte = b[i]
                    i += 1
                    v |= UInt64(byte & 0x7F) << shift
                    if byte < 0x80 { return v }
                    shift += 7
                }
            }
            while i < b.count {
                let key = try varint()
                let number = Int(key >> 3)
                switch key & 7 {
                case 0: fields.append((number, .varint(try varint())))
                case 1:
                    guard i + 8 <= b.count else { throw PatchRNNError("truncated fixed64") }
                    fields.append((number, .fixed64(le(b[i..<(i + 8)], UInt64.self))))
                    i += 8
                case 5:
                    guard i + 4 <= b.count else { throw PatchRNNError("truncated fixed32") }
                    fields.append((number, .fixed32(le(b[i..<(i + 4)], UInt32.self))))
                    i += 4
                case 2:
                    let n = Int(try varint())
                    guard n <= b.count - i else { throw PatchRNNError("truncated bytes") }
                    fields.append((number, .bytes(Array(b[i..<(i + n)]))))
                    i += n
                default: throw PatchRNNError("wire type \(key & 7)")
                }
            }
        }
        func all(_ n: Int) -> [Field] { fields.filter { $0.0 == n }.map(\.1) }
        func first(_ n: Int) -> Field? { all(n).first }
        func message(_ n: Int) throws -> Message? { try first(n)?.data.map(Message.init) }
    }

    /// What the tests look at in an `Event`.
    struct Event {
        var wallTime: Double, step: Int, fileVersion: String?, sessionStatus: Int?
        var scalars: [String: Float] = [:]
        var images: [String: (height: Int, width: Int, colorspace: Int, png: [UInt8])] = [:]
        var texts: [String: (plugin: String?, dtype: Int?, shape: [Int], text: String)] = [:]

        init(_ bytes: [UInt8]) throws {
            let e = try Message(bytes)
            wallTime = e.first(1)?.double ?? 0
            step = e.first(2)?.int ?? 0
            fileVersion = e.first(3)?.string
            sessionStatus = try e.message(7).map { $0.first(1)?.int ?? 0 }
            for raw in try e.message(5)?.all(1) ?? [] {  // Summary.value
                let v = try Message(raw.data ?? [])
                let tag = v.first(1)?.string ?? ""
                if let s = v.first(2)?.float { scalars[tag] = s }
                if let i = try v.message(4) {
                    images[tag] = (i.first(1)?.int ?? 0, i.first(2)?.int ?? 0, i.first(3)?.int ?? 0, i.first(4)?.data ?? [])
                }
                if let t = try v.message(8) {
                    let plugin = try v.message(9)?.message(1)?.first(1)?.string
                    let dims = try t.message(2)?.all(2).map { try Message($0.data ?? []).first(1)?.int ?? 0 } ?? []
                    texts[tag] = (plugin, t.first(1)?.int, dims, t.all(8).compactMap(\.string).joined())
                }
            }
        }
    }

    static func events(in dir: String) throws -> [(file: String, events: [Event])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
        return try names.map { name in
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            return (name, try records(bytes).map(Event.init))
        }
    }

    static func log(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    // MARK: The pieces

    @Test("CRC-32C matches the known test vectors (both implementations) and the TFRecord mask")
    func crcVectors() {
        let vectors: [([UInt8], UInt32)] = [
            (Array("123456789".utf8), 0xE306_9283),
            ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
            ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
            ((0..<32).map { UInt8($0) }, 0x46DD_794E),  // RFC 3720 B.4, ascending
            ((0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),  // descending
            ([], 0),
        ]
        for (bytes, crc) in vectors {
            #expect(CRC32C.checksum(bytes) == crc, "\(bytes.prefix(4))...")
            #expect(Self.bitwiseCRC32C(bytes) == crc, "\(bytes.prefix(4))...")
        }
        #expect(CRC32C.masked(0) == 0xA282_EAD8)
        #expect(CRC32C.masked(0xE306_9283) == Self.mask(0xE306_9283))
    }

    @Test("a TFRecord frames its data: length, masked CRC of the length, data, masked CRC of the data")
    func framing() throws {
        let data = Array("hello, TensorBoard".utf8)
        let framed = TFRecord.frame(data)
        #expect(framed.count == data.count + 16)
        #expect(Array(framed[0..<8]) == [UInt8(data.count), 0, 0, 0, 0, 0, 0, 0])
        #expect(try Self.records(framed + TFRecord.frame([])) == [data, []])
        var damaged = framed
        damaged[14] ^= 1
        #expect(throws: PatchRNNError("wrong data CRC in the record at 0")) { try Self.records(damaged) }
        damaged = framed
        damaged[2] ^= 1
        #expect(throws: PatchRNNError("wrong length CRC in the record at 0")) { try Self.records(damaged) }
    }

    @Test("events encode as TensorFlow's protos: version, scalars, image, text, session start")
    func eventEncoding() throws {
        let v = try Event(TensorBoardEvent.fileVersion(wallTime: 1.5))
        #expect(v.fileVersion == "brain.Event:2" && v.wallTime == 1.5 && v.step == 0)
        let s = try Event(TensorBoardEvent.scalars([("a/b", 0.25), ("c", -3)], step: 300, wallTime: 2))
        #expect(s.step == 300 && s.scalars == ["a/b": 0.25, "c": -3])
        let i = try Event(TensorBoardEvent.image(tag: "img", png: [1, 2, 3], width: 7, height: 5, step: 2, wallTime: 2))
        #expect(
            i.images["img"]?.width == 7 && i.images["img"]?.height == 5 && i.images["img"]?.colorspace == 3
                && i.images["img"]?.png == [1, 2, 3])
        let t = try Event(TensorBoardEvent.text(tag: "t", "| a | b |", step: 0, wallTime: 2))
        #expect(
            t.texts["t"]?.plugin == "text" && t.texts["t"]?.dtype == 7 && t.texts["t"]?.shape == [1] && t.texts["t"]?.text == "| a | b |")
        let start = try Event(TensorBoardEvent.sessionStart(step: 4, wallTime: 2))
        #expect(start.sessionStatus == 1 && start.step == 4)
    }

    // MARK: A real run

    @Test("train --tensorboard writes per-epoch scalars equal to the log, the grid every N epochs and the hyper-parameters")
    func trainingRun() throws {
        let data = try writeSyntheticMNIST(train: 400, test: 120)
        let tb = data + "/tb"
        let r = try CommandLineTests().run([
            "train", "--data", data, "--out", data + "/out", "--epochs", "3", "--batch-size", "32",
            "--threads", "2", "--tensorboard", tb, "--tensorboard-images-every", "2", "--quiet",
        ])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let files = try Self.events(in: tb)
        try #require(files.count == 1)
        let events = files[0].events
        #expect(events.first?.fileVersion == "brain.Event:2", "the first record is the file version")
        #expect(events.dropFirst().allSatisfy { $0.fileVersion == nil })
        #expect(events[1].sessionStatus == 1 && events[1].step == 0)
        let now = Date().timeIntervalSince1970
        #expect(events.allSatisfy { $0.wallTime > now - 600 && $0.wallTime <= now + 1 })

        let text = try #require(events.compactMap { e in e.texts["hyperparameters"].map { (e.step, $0) } }.first)
        #expect(text.0 == 0 && text.1.plugin == "text" && text.1.dtype == 7 && text.1.shape == [1])
        #expect(
            text.1.text.contains("| batch_size | 32 |") && text.1.text.contains("| epochs | 3 |") && text.1.text.contains("| cell | lstm |")
        )

        let log = try Self.log(data + "/out/train-log.jsonl")
        let scalarEvents = events.filter { !$0.scalars.isEmpty }
        #expect(scalarEvents.map(\.step) == [1, 2, 3])
        for (e, line) in zip(scalarEvents, log) {
            #expect(e.step == line["epoch"] as? Int)
            let expected: [String: Double?] = [
                "loss/train": line["train_loss"] as? Double, "loss/validation": line["val_loss"] as? Double,
                "bottom_half_mse/validation": line["val_bottom_mse"] as? Double, "learning_rate": line["learning_rate"] as? Double,
                "samples_per_s": line["samples_per_s"] as? Double,
            ]
            #expect(Set(e.scalars.keys) == Set(expected.keys))
            for (tag, value) in expected {
                #expect(e.scalars[tag] == value.map { Float($0) }, "\(tag) at epoch \(e.step)")
            }
        }

        let images = events.compactMap { e in e.images["samples"].map { (e.step, $0) } }
        #expect(images.map(\.0) == [2, 3], "the grid every 2 epochs of 3, and after the last")
        let image = try #require(images.first?.1)
        #expect(Array(image.png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
        #expect(image.width == TensorBoardLog.pngSize(image.png).0 && image.height == TensorBoardLog.pngSize(image.png).1)
        #expect(image.width == 10 * 58 + 2 && image.height == 10 * 58 + 2, "10x10 digits of 56 pixels and 2-pixel gaps")
        #expect(image.colorspace == 3)
    }

    @Test("a resumed run continues in the same folder at the next epoch: every epoch once")
    func resumedRun() throws {
        let data = try writeSyntheticMNIST(train: 400, test: 120)
        let tb = data + "/tb", out = data + "/out"
        let common = ["--data", data, "--out", out, "--tensorboard", tb, "--tensorboard-images-every", "1", "--threads", "1", "--quiet"]
        // 360 training images, batch 32: 12 steps per epoch; stop in epoch 2.
        let first = try CommandLineTests().run(["train", "--epochs", "4", "--batch-size", "32", "--max-steps", "17"] + common)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        let second = try CommandLineTests().run(["train", "--resume", out + "/resume.safetensors"] + common)
        #expect(second.status == 0, "stderr: \(second.stderr)")
        let files = try Self.events(in: tb)
        try #require(files.count == 2, "one event file per run")
        let (before, after) = (files[0].events, files[1].events)
        #expect(before.filter { !$0.scalars.isEmpty }.map(\.step) == [1])
        #expect(after.first?.fileVersion == "brain.Event:2")
        #expect(after[1].sessionStatus == 1 && after[1].step == 2, "the resumed file starts at epoch 2")
        #expect(after.allSatisfy { $0.texts.isEmpty }, "the hyper-parameters are written once, at step 0")
        let steps = (before + after).filter { !$0.scalars.isEmpty }.map(\.step)
        #expect(steps == [1, 2, 3, 4], "every epoch once, in order")
        #expect((before + after).filter { !$0.images.isEmpty }.map(\.step) == [1, 2, 3, 4])
        let log = try Self.log(out + "/train-log.jsonl")
        #expect(
            zip((before + after).filter { !$0.scalars.isEmpty }, log).allSatisfy {
                $0.scalars["loss/validation"] == Float(($1["val_loss"] as? Double) ?? .nan)
            })
    }

    @Test("--tensorboard-images-every 0 and an unusable --tensorboard folder end in one line and exit 1, before any work")
    func badOptions() throws {
        let data = try writeSyntheticMNIST(train: 60, test: 20)
        try Data().write(to: URL(fileURLWithPath: data + "/a-file"))
        let cases: [([String], String)] = [
            (["--tensorboard-images-every", "0"], "error: --tensorboard-images-every must be at least 1 (got 0)"),
            (
                ["--tensorboard", data + "/tb", "--tensorboard-images-every", "-3"],
                "error: --tensorboard-images-every must be at least 1 (got -3)"
            ),
            (["--tensorboard", data + "/a-file"], "error: \(data)/a-file: cannot create TensorBoard folder (a file of that name exists)"),
            (["--tensorboard", data + "/a-file/tb"], "error: \(data)/a-file/tb: cannot create TensorBoard folder (Not a directory)"),
        ]
        for command in ["train", "run"] {
            for (args, message) in cases {
                let r = try CommandLineTests().run([command, "--data", data, "--out", data + "/out-\(command)", "--quiet"] + args)
                #expect(r.status == 1 && r.stderr == message + "\n", "\(command) \(args): \(r.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: data + "/tb"), "nothing written for a bad option")
        #expect(!FileManager.default.fileExists(atPath: data + "/out-train/model.safetensors"))
    }
}
