import Foundation
import Testing

@testable import PatchRNN

/// Output never kills the job (a closed, full or broken standard error only loses progress; a
/// result that cannot be written is an error), and every stop signal ends training like an
/// interruption, without a crash report and without swallowing an error.
@Suite("Output streams and signals", .serialized)
struct OutputAndSignalTests {
    /// A data folder, a checkpoint trained on it, and each subcommand's arguments (without
    /// --quiet, so that progress is written) with the files it must leave in `out`.
    struct Fixture {
        let data: String
        let checkpoint: String
        func commands(out: String) -> [(args: [String], files: [String])] {
            let train = ["--data", data, "--out", out, "--epochs", "2", "--batch-size", "32", "--threads", "1"]
            return [
                (["run"] + train, OutputFiles.training + OutputFiles.generation),
                (["train"] + train, OutputFiles.training + [OutputFiles.resume]),
                (["generate", "--data", data, "--checkpoint", checkpoint, "--out", out, "--threads", "1"], OutputFiles.generation),
                (["evaluate", "--data", data, "--checkpoint", checkpoint, "--threads", "1"], []),
                (["evaluate", "--data", data, "--checkpoint", checkpoint, "--threads", "1", "--json"], []),
                (["bench", "--seconds", "0.05", "--batch-size", "8", "--threads", "1"], []),
                (["topology"], []),
                (
                    ["trace", "--data", data, "--out", out, "--steps", "3", "--batch-size", "8", "--threads", "1"],
                    [OutputFiles.initialWeights, OutputFiles.trace]
                ),
            ]
        }
    }

    static let fixture: Fixture? = {
        guard let binary = CommandLineTests.binary, let data = try? writeSyntheticMNIST(train: 300, test: 60) else { return nil }
        let r = try? runProcess(
            binary, ["train", "--data", data, "--out", data + "/model", "--epochs", "1", "--batch-size", "32", "--threads", "1", "--quiet"])
        guard r?.status == 0 else { return nil }
        return Fixture(data: data, checkpoint: data + "/model/model.safetensors")
    }()

    @Test(
        "a closed, full or broken standard error (SIGPIPE ignored or not) loses progress, never the job: every subcommand ends as usual",
        arguments: ["closed", "full", "broken pipe", "broken pipe, SIGPIPE ignored"])
    func brokenStandardError(mode: String) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let fixture = try #require(Self.fixture)
        let setup: StreamSetup = mode == "closed" ? .closed : mode == "full" ? .full : .brokenPipe
        for (i, command) in fixture.commands(out: fixture.data + "/stderr-\(mode.hashValue)-").enumerated() {
            var args = command.args
            if let o = args.firstIndex(of: "--out") { args[o + 1] += "\(i)" }
            let r = try runRedirected(binary, args, stderr: setup, shellPrefix: mode.hasSuffix("ignored") ? "trap '' PIPE;" : "")
            #expect(r.status == 0, "\(args[0]) with stderr \(mode): status \(r.status)")
            #expect(!r.stdout.isEmpty, "\(args[0]): no results on stdout")
            if args.contains("--json") { #expect(throws: Never.self) { _ = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) } }
            if let o = args.firstIndex(of: "--out") {
                for f in command.files {
                    #expect(FileManager.default.fileExists(atPath: args[o + 1] + "/" + f), "\(args[0]): \(f) missing")
                }
            }
        }
    }

    @Test(
        "results that cannot be written (stdout full, closed, a broken pipe) are an error: exit status 1, one line, the files complete",
        arguments: ["closed", "full", "broken pipe"])
    func unwritableResults(mode: String) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let fixture = try #require(Self.fixture)
        let setup: StreamSetup = mode == "closed" ? .closed : mode == "full" ? .full : .brokenPipe
        for (i, command) in fixture.commands(out: fixture.data + "/stdout-\(mode.hashValue)-").enumerated() {
            var args = command.args + ["--quiet"]
            if args[0] == "topology" { args.removeLast() }
            if let o = args.firstIndex(of: "--out") { args[o + 1] += "\(i)" }
            let r = try runRedirected(binary, args, stdout: setup)
            #expect(r.status == 1, "\(args[0]) with stdout \(mode): status \(r.status), stderr \(r.stderr)")
            #expect(
                r.stderr.hasPrefix("error: ") && r.stderr.contains("standard output") && r.stderr.split(separator: "\n").count == 1,
                "\(args[0]): \(r.stderr)")
            if let o = args.firstIndex(of: "--out") {
                for f in command.files where f.hasSuffix(".safetensors") {
                    #expect(throws: Never.self) { _ = try Safetensors.load(path: args[o + 1] + "/" + f) }
                }
            }
        }
    }

    /// Starts a long training run with stderr to a file; returns once its first epoch line is there.
    func startTraining(_ binary: String, data: String, out: String, extra: [String] = [], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        // No core file from SIGQUIT's default action in the tests' folder.
        p.arguments =
            [
                "-c", "ulimit -c 0; exec \"$0\" \"$@\"", binary, "train", "--data", data, "--out", out, "--epochs", "1000",
                "--patience", "1000", "--batch-size", "16", "--threads", "1",
            ] + extra
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning, (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Epoch 1/") != true {
            usleep(20_000)
        }
        return p
    }

    @Test(
        "SIGHUP and SIGQUIT while training end like an interruption: the resume file, one line, 128 + signal, no crash report",
        arguments: [(SIGHUP, Int32(129)), (SIGQUIT, Int32(131))])
    func hangUpAndQuit(signal: Int32, status: Int32) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 600, test: 40)
        let log = data + "/stderr"
        let p = try startTraining(binary, data: data, out: data + "/out", log: log)
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let last = text.split(separator: "\n").last.map(String.init) ?? ""
        #expect(p.terminationReason == .exit && p.terminationStatus == status, "status \(p.terminationStatus): \(text)")
        #expect(last.hasPrefix("interrupted (signal \(signal))") && last.contains("--resume"), "\(text)")
        #expect(!text.contains("crashed") && !text.contains("Backtrac"), "\(text)")
        let (_, file) = try Safetensors.load(path: data + "/out/resume.safetensors")
        let info = try ResumeState.info(file, name: "resume")
        #expect(!info.finished && info.progress.stepInEpoch > 0, "the state of the step it stopped after")
    }

    @Test(
        "SIGQUIT and SIGHUP outside training (evaluate) end the process as their default action does, without a crash report",
        arguments: [SIGQUIT, SIGHUP])
    func quitOutsideTraining(signal: Int32) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 60, test: 3000)
        let params = Parameters.initialized(ModelConfig(hidden: 400, layers: 3), seed: 1)  // slow enough to catch
        try Safetensors.save(params, metadata: [:], to: data + "/m.safetensors")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [
            "-c", "ulimit -c 0; exec \"$0\" \"$@\"", binary, "evaluate", "--data", data, "--checkpoint", data + "/m.safetensors",
            "--threads", "1",
        ]
        let log = data + "/stderr"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? String(contentsOfFile: log, encoding: .utf8))?.contains("workers:") != true { usleep(20_000) }
        usleep(200_000)
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == signal, "\(p.terminationReason) \(p.terminationStatus)")
        #expect(!text.contains("crashed") && !text.contains("Backtrac"), "\(text)")
    }

    @Test(
        "an error while a signal is pending is reported, not swallowed: SIGTERM with a full disk ends in one line and status 1",
        .enabled(if: geteuid() == 0, "needs root to mount a small tmpfs"))
    func errorWhileSignalPending() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 2000, test: 40)
        let out = data + "/small"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", out])
        try #require(mount.status == 0, "mount: \(mount.stderr)")
        defer { _ = try? runProcess("/bin/umount", [out]) }
        let log = data + "/stderr"
        let p = try startTraining(binary, data: data, out: out, extra: ["--hidden", "128"], log: log)  // epochs of seconds
        // The epoch line comes before the epoch's files; the resume file is the last of them.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !FileManager.default.fileExists(atPath: out + "/resume.safetensors") { usleep(10_000) }
        // Fill the disk to the last byte, then ask the run to stop: the resume file it then
        // writes cannot be written, and that error is what the run must say.
        let fill = open(out + "/filler", O_WRONLY | O_CREAT, 0o644)
        var block = [UInt8](repeating: 1, count: 65536)
        while write(fill, &block, block.count) > 0 {}
        block = [1]
        while write(fill, &block, 1) > 0 {}
        close(fill)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let last = text.split(separator: "\n").last.map(String.init) ?? ""
        #expect(p.terminationReason == .exit && p.terminationStatus == 1, "\(p.terminationReason) \(p.terminationStatus): \(text)")
        #expect(last.hasPrefix("error: ") && last.contains("No space left on device") && last.contains(".safetensors"), "\(last)")
        #expect(throws: Never.self) { _ = try Safetensors.load(path: out + "/model.safetensors") }
    }
}
