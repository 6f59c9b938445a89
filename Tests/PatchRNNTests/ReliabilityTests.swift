import CZlib
import Foundation
import Testing

@testable import PatchRNN

/// No crash from any input: numeric options, checkpoints, full disks, two runs at once,
/// interruptions outside training.
@Suite("Reliability: options, checkpoints, disks, locks, signals", .serialized)
struct ReliabilityTests {
    // MARK: Every numeric option

    /// (command, option, bad values): values for which the option must be refused. Values a
    /// command accepts (a huge --train-limit is all the data; --lr-patience 0 is off; a shard
    /// larger than the batch is the batch) are not listed, so no case starts real work.
    static let numericOptions: [(String, String, [String])] = {
        let ints = ["-5", "0", "99999999999", "abc", "1.5"]
        let noHuge = ["-5", "0", "abc"]
        let floats = ["-1", "0", "nan", "inf", "abc"]
        let training: [(String, [String])] = [
            ("--batch-size", ints), ("--shard-size", noHuge), ("--epochs", ints), ("--learning-rate", floats),
            ("--patience", ints), ("--lr-patience", ["-5", "99999999999", "abc"]), ("--seed", ["-5", "abc", "99999999999999999999999"]),
            ("--validation-fraction", floats + ["1", "2"]), ("--hidden", ints), ("--layers", ints),
            ("--train-limit", ["-5", "0", "1", "abc"]), ("--threads", ints),
        ]
        var all: [(String, String, [String])] = []
        for command in ["train", "run", "trace"] { all += training.map { (command, $0.0, $0.1) } }
        all += [("train", "--max-steps", noHuge), ("trace", "--steps", ints)]
        all += ["train", "run"].map { ($0, "--tensorboard-images-every", ints) }
        all += [
            ("bench", "--batch-size", ints), ("bench", "--shard-size", noHuge), ("bench", "--seconds", floats + ["99999"]),
            ("bench", "--threads", ints), ("bench", "--repeats", ints), ("topology", "--threads", ints),
            ("generate", "--threads", ints), ("evaluate", "--threads", ints), ("report", "--threads", ints),
        ]
        return all
    }()

    @Test(
        "every numeric option of every command refuses negative, zero, huge, non-finite and non-numeric values in one line naming it",
        arguments: numericOptions.map { "\($0.0) \($0.1)" })
    func numericOption(_ commandAndOption: String) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let parts = commandAndOption.split(separator: " ").map(String.init)
        let (command, option) = (parts[0], parts[1])
        let values = try #require(Self.numericOptions.first { $0.0 == command && $0.1 == option }?.2)
        let data = try writeSyntheticMNIST(train: 60, test: 20)
        var context: [String] = []
        switch command {
        case "train", "run", "trace": context = ["--data", data, "--out", data + "/out", "--quiet"]
        case "generate", "evaluate", "report":
            let params = Parameters.initialized(ModelConfig(hidden: 4, layers: 1), seed: 1)
            try Safetensors.save(params, metadata: [:], to: data + "/m.safetensors")
            context =
                ["--data", data, "--checkpoint", data + "/m.safetensors", "--quiet"]
                + (command == "evaluate" ? [] : ["--out", data + "/gen"])
        case "bench": context = ["--quiet"]
        default: break
        }
        for value in values {
            let r = try runProcess(binary, [command, option, value] + context)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status != 0, "\(command) \(option) \(value) was accepted")
            #expect(
                lines.count == 1 && r.stderr.hasPrefix("error: ") && r.stderr.contains(option),
                "\(command) \(option) \(value): \(r.stderr)")
            // A negative number is a value, not a missing one: the message says what is wrong with it.
            #expect(!r.stderr.contains("Missing value"), "\(command) \(option) \(value): \(r.stderr)")
        }
    }

    // MARK: Checkpoints

    @Test("thousands of random mutations of a valid checkpoint never crash or hang: each loads or ends in a one-line error")
    func fuzzCheckpoints() throws {
        let params = Parameters.initialized(ModelConfig(cell: GRUCell.self, hidden: 3, layers: 2), seed: 4)
        var options = TrainingOptions()
        options.model = params.config
        let valid = try Safetensors.encode(params, metadata: options.summary(epoch: 1))
        let headerLength = Int(valid[0]) | Int(valid[1]) << 8
        var rng = SeededRandom(seed: 77)
        var loaded = 0, rejected = 0
        let numbers = ["-1", "0", "3", "9223372036854775807", "4611686018427387904", "1e308", "null", "[]", "\"F32\"", "\"F64\""]
        for round in 0..<5000 {
            var b = valid
            switch rng.below(6) {
            case 0: for _ in 0..<(1 + rng.below(4)) { b[8 + rng.below(headerLength)] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1: b[rng.below(8)] = UInt8(truncatingIfNeeded: rng.next())  // the header length
            case 2: b.removeLast(rng.below(b.count))
            case 3: b += (0..<rng.below(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 4:  // replace a number (a shape, an offset) in the JSON header with another
                var header = String(decoding: b[8..<(8 + headerLength)], as: UTF8.self)
                let digits = header.indices.filter { header[$0].isNumber }
                if let at = digits.randomElement(using: &rng) {
                    var end = at
                    while end < header.endIndex && header[end].isNumber { end = header.index(after: end) }
                    header.replaceSubrange(at..<end, with: numbers[rng.below(numbers.count)])
                }
                var bytes = Array(header.utf8)
                while bytes.count % 8 != 0 { bytes.append(0x20) }
                let n = UInt64(bytes.count)
                b = (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + bytes + Array(valid[(8 + headerLength)...])
            default: b[rng.below(b.count)] ^= UInt8(1 << rng.below(8))
            }
            do {
                let file = try Safetensors.decode(b, name: "fuzz")
                _ = try Safetensors.parameters(file, name: "fuzz")
                loaded += 1
            } catch let e as PatchRNNError {
                rejected += 1
                #expect(e.description.hasPrefix("fuzz") && !e.description.contains("\n"), "round \(round): \(e.description)")
            } catch {
                Issue.record("round \(round): not a PatchRNNError: \(error)")
            }
        }
        #expect(rejected > 1000 && loaded > 100, "loaded \(loaded), rejected \(rejected)")
    }

    @Test("a checkpoint that is a device, a folder or has an impossible shape is refused before anything large is read or allocated")
    func impossibleCheckpoints() throws {
        let dir = try temporaryDirectory()
        #expect(throws: PatchRNNError.self) { _ = try Safetensors.load(path: "/dev/zero") }
        #expect(throws: PatchRNNError.self) { _ = try Safetensors.load(path: dir) }
        // A weight_hh claiming hidden 1e9: refused from the shapes, not by allocating.
        let params = Parameters.initialized(ModelConfig(hidden: 4, layers: 1), seed: 1)
        let good = try Safetensors.encode(params, metadata: [:])
        let headerLength = Int(good[0]) | Int(good[1]) << 8
        let header = String(decoding: good[8..<(8 + headerLength)], as: UTF8.self)
        for shape in ["[16,1000000000]", "[4611686018427387904,4]", "[-16,4]"] {
            var h = Array(header.replacingOccurrences(of: "\"shape\":[16,4]", with: "\"shape\":\(shape)").utf8)
            while h.count % 8 != 0 { h.append(0x20) }
            let n = UInt64(h.count)
            let bytes = (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + h + Array(good[(8 + headerLength)...])
            _ = FileManager.default.createFile(atPath: dir + "/c.safetensors", contents: Data(bytes))
            #expect(throws: PatchRNNError.self, "shape \(shape)") { _ = try Safetensors.load(path: dir + "/c.safetensors") }
        }
    }

    @Test("tensors that share bytes, a FIFO, and a resume state whose position is out of range are refused")
    func sharedBytesFifoAndBadResume() throws {
        let dir = try temporaryDirectory()
        let params = Parameters.initialized(ModelConfig(hidden: 4, layers: 1), seed: 1)
        let good = try Safetensors.encode(params, metadata: [:])
        let headerLength = Int(good[0]) | Int(good[1]) << 8
        let header = try #require(try JSONSerialization.jsonObject(with: Data(good[8..<(8 + headerLength)])) as? [String: Any])
        // Point the Dense bias at the first tensor's bytes (the same length: 49 floats each would
        // not fit, so reuse the bias_ih range, 16 floats, for bias_hh).
        var shared = header
        var bhh = try #require(shared["lstm.bias_hh_l0"] as? [String: Any])
        bhh["data_offsets"] = (try #require(shared["lstm.bias_ih_l0"] as? [String: Any]))["data_offsets"]
        shared["lstm.bias_hh_l0"] = bhh
        var h = try JSONSerialization.data(withJSONObject: shared, options: [.sortedKeys])
        while h.count % 8 != 0 { h.append(0x20) }
        let n = UInt64(h.count)
        let bytes = (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + [UInt8](h) + Array(good[(8 + headerLength)...])
        #expect(throws: PatchRNNError.self) { _ = try Safetensors.decode(bytes, name: "shared") }

        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        #expect(throws: PatchRNNError.self) { _ = try Safetensors.load(path: dir + "/fifo") }

        var options = TrainingOptions()
        options.model = params.config
        var progress = TrainingProgress()
        progress.stepInEpoch = -1
        try ResumeState.save(
            params: params, adam: AdamState(count: params.layout.paddedCount), best: params, options: options,
            progress: progress, to: dir + "/resume.safetensors")
        let (_, file) = try Safetensors.load(path: dir + "/resume.safetensors")
        #expect(throws: PatchRNNError.self) { _ = try ResumeState.read(file, name: "resume", layout: params.layout) }
    }

    // MARK: Disks and folders

    @Test(
        "a full disk: the message names the file and says so, the previous checkpoint stays loadable, no partial file is left",
        .enabled(if: geteuid() == 0, "needs root to mount a small tmpfs"))
    func diskFull() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 400, test: 40)
        let out = data + "/small"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=640k", "tmpfs", out])
        try #require(mount.status == 0, "mount: \(mount.stderr)")
        defer { _ = try? runProcess("/bin/umount", [out]) }
        // Leave room for one checkpoint (about 200 KiB) and the small files, not for a second
        // beside it: the first improving epoch writes, the next one cannot.
        _ = FileManager.default.createFile(atPath: out + "/filler", contents: Data(count: 640 * 1024 - 360 * 1024))
        let r = try runProcess(
            binary, ["train", "--data", data, "--out", out, "--epochs", "6", "--batch-size", "16", "--threads", "1", "--quiet"])
        #expect(r.status == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.split(separator: "\n").count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(out) && r.stderr.contains("No space left on device"), "stderr: \(r.stderr)")
        #expect(throws: Never.self) { _ = try Safetensors.load(path: out + "/model.safetensors") }
        let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp-") }
        #expect(left.isEmpty, "partial files left: \(left)")
    }

    @Test("an output path that cannot be created is reported with its path and the system's reason")
    func unwritableOutput() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 60, test: 20)
        _ = FileManager.default.createFile(atPath: data + "/plainfile", contents: Data([1]))
        try Safetensors.save(Parameters.initialized(ModelConfig(hidden: 4, layers: 1), seed: 1), metadata: [:], to: data + "/m.safetensors")
        for (out, reason) in [(data + "/plainfile/sub", "Not a directory"), (data + "/plainfile", "a file of that name exists")] {
            let r = try runProcess(binary, ["generate", "--data", data, "--checkpoint", data + "/m.safetensors", "--out", out, "--quiet"])
            #expect(r.status == 1 && r.stderr.contains(out) && r.stderr.contains(reason), "stderr: \(r.stderr)")
            #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        }
    }

    @Test("two runs into one --out: the second is refused at once naming the first, which goes on; a killed run blocks nobody")
    func twoRunsAtOnce() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 600, test: 40)
        let out = data + "/out"
        let first = Process()
        first.executableURL = URL(fileURLWithPath: binary)
        first.arguments = ["train", "--data", data, "--out", out, "--epochs", "1000", "--patience", "1000", "--threads", "1", "--quiet"]
        first.standardError = FileHandle.nullDevice
        try first.run()
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: out + "/model.safetensors") && Date() < deadline { usleep(20_000) }
        let second = try runProcess(binary, ["train", "--data", data, "--out", out, "--epochs", "1", "--threads", "1", "--quiet"])
        #expect(second.status == 1)
        #expect(
            second.stderr.contains("another patchrnn run is writing to this folder (pid \(first.processIdentifier)"),
            "stderr: \(second.stderr)")
        #expect(first.isRunning, "the first run was disturbed")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let third = try runProcess(binary, ["train", "--data", data, "--out", out, "--epochs", "1", "--threads", "1", "--quiet"])
        #expect(third.status == 0, "a killed run's lock blocked the next: \(third.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp-") || $0.contains("write-check") }
        #expect(left.isEmpty, "temporary files of the killed run are still there: \(left)")
    }

    // MARK: Signals outside training

    @Test(
        "SIGINT and SIGTERM end bench, evaluate and generate within a second, leaving no partial files",
        arguments: [SIGINT, SIGTERM])
    func interruptAnything(signal: Int32) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 60, test: 3000)
        let params = Parameters.initialized(ModelConfig(hidden: 400, layers: 3), seed: 1)  // slow enough to catch
        try Safetensors.save(params, metadata: [:], to: data + "/m.safetensors")
        for args in [
            ["bench", "--seconds", "60", "--threads", "1"],
            ["generate", "--data", data, "--checkpoint", data + "/m.safetensors", "--out", data + "/gen", "--threads", "1"],
            ["evaluate", "--data", data, "--checkpoint", data + "/m.safetensors", "--threads", "1"],
        ] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args + ["--quiet"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(700_000)
            let t0 = Date()
            kill(p.processIdentifier, signal)
            p.waitUntilExit()
            #expect(Date().timeIntervalSince(t0) < 1, "\(args[0]) took \(Date().timeIntervalSince(t0)) s to stop")
            #expect(
                p.terminationReason == .uncaughtSignal && p.terminationStatus == signal,
                "\(args[0]): \(p.terminationReason) \(p.terminationStatus)")
        }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: data + "/gen")) ?? []
        #expect(left.filter { $0.contains(".tmp-") || $0.hasSuffix(".png") || $0.hasSuffix(".json") }.isEmpty, "\(left)")
    }

    @Test("train refuses a data folder without the test files before decoding the training set")
    func missingTestFilesFirst() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 60, test: 20)
        try FileManager.default.removeItem(atPath: data + "/" + MNIST.files.testImages + ".gz")
        let r = try runProcess(binary, ["train", "--data", data, "--out", data + "/out", "--quiet"])
        #expect(r.status == 1 && r.stderr.contains(MNIST.files.testImages) && r.stderr.contains("no such file"), "stderr: \(r.stderr)")
    }
}
