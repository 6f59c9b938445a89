import CZlib
import Foundation
import Testing

@testable import PatchRNN

/// The `patchrnn` tool as a user runs it: exit codes, one-line errors, the files it writes.
@Suite("Command-line tool", .serialized)
struct CommandLineTests {
    static let binary: String? = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for candidate in [here.appendingPathComponent("patchrnn").path, root.appendingPathComponent(".build/release/patchrnn").path]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }()

    func run(_ args: [String]) throws -> ProcessResult {
        let path = try #require(
            Self.binary, "patchrnn is not built: run `swift build -c release --product patchrnn` (scripts/test.sh does)")
        return try runProcess(path, args)
    }

    func syntheticMNIST(train: Int, test: Int) throws -> String { try writeSyntheticMNIST(train: train, test: test) }

    @Test(
        "placement keeps to the CPUs the process was given (taskset, mpirun)",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") && ProcessInfo.processInfo.activeProcessorCount >= 2,
            "needs taskset and 2 CPUs"))
    func respectsProcessBinding() throws {
        let path = try #require(Self.binary, "patchrnn is not built")
        let topo = try Topology()
        let last = try #require(topo.machineCores.last?.pus.first)
        let r = try runProcess("/usr/bin/taskset", ["-c", "\(last)", path, "topology"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("placement for 1 worker(s), pack, ") && r.stdout.contains(": w0->PU \(last) ("), "\(r.stdout)")
        #expect(r.stdout.contains("not in this process's CPU binding"))
        let two = try runProcess("/usr/bin/taskset", ["-c", "\(last)", path, "topology", "--threads", "2"])
        #expect(two.status == 1)
        #expect(two.stderr.contains("--threads 2 is more than the 1 physical cores"), "\(two.stderr)")
    }

    @Test("run, evaluate --json and generate work end to end and agree")
    func endToEnd() throws {
        let data = try syntheticMNIST(train: 400, test: 120)
        let out = data + "/out"
        let r = try run(["run", "--data", data, "--out", out, "--epochs", "2", "--batch-size", "32", "--threads", "2", "--quiet"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        for f in ["model.safetensors", "train-log.jsonl", "loss.svg", "samples.png", "truth.png", "metrics.json", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(f)"), "\(f) missing")
        }
        let metrics = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json"))) as? [String: Any])
        for key in [
            "test_free_running_bottom_mse", "test_teacher_forced_mse", "per_class_bottom_mse", "best_val_loss",
            "epochs_trained", "epochs", "train_seconds", "threads", "batch_size", "seed", "sampling_ramp",
        ] {
            #expect(metrics[key] != nil, "metrics.json lacks \(key)")
        }
        #expect((metrics["per_class_bottom_mse"] as? [Double])?.count == 10)
        #expect(metrics["epochs_trained"] as? Int == 2)
        let log = try String(contentsOfFile: "\(out)/train-log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 2)

        let e = try run(["evaluate", "--data", data, "--checkpoint", "\(out)/model.safetensors", "--json", "--threads", "1"])
        #expect(e.status == 0, "stderr: \(e.stderr)")
        let evaluated = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any])
        // Same checkpoint, different thread count: the same numbers.
        #expect(evaluated["test_free_running_bottom_mse"] as? Double == metrics["test_free_running_bottom_mse"] as? Double)
        #expect(evaluated["test_teacher_forced_mse"] as? Double == metrics["test_teacher_forced_mse"] as? Double)

        let withBaselines = try run([
            "evaluate", "--data", data, "--checkpoint", "\(out)/model.safetensors", "--json", "--baselines", "--threads", "2",
        ])
        #expect(withBaselines.status == 0, "stderr: \(withBaselines.stderr)")
        let both = try #require(try JSONSerialization.jsonObject(with: Data(withBaselines.stdout.utf8)) as? [String: Any])
        #expect(both["test_free_running_bottom_mse"] as? Double == metrics["test_free_running_bottom_mse"] as? Double)
        #expect((both["baseline_mean_bottom_mse"] as? Double ?? 0) > 0 && both["baseline_training_images"] as? Int == 400)
        #expect(both["baseline_nearest_top_mse"] is Double)

        let g = try run(["generate", "--data", data, "--checkpoint", "\(out)/model.safetensors", "--out", "\(out)/gen", "--quiet"])
        #expect(g.status == 0, "stderr: \(g.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(out)/gen/samples.png"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/gen/report.html"))
    }

    @Test("report writes report.html beside the checkpoint or into --out; curves only where the run's log is; --baselines adds them")
    func reportCommand() throws {
        let data = try syntheticMNIST(train: 300, test: 60)
        let out = data + "/out"
        let r = try run(["train", "--data", data, "--out", out, "--epochs", "2", "--batch-size", "32", "--threads", "1", "--quiet"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        func page(_ path: String) throws -> (html: String, data: [String: Any]) {
            let html = try String(contentsOfFile: path, encoding: .utf8)
            return (html, try #require(try reportData(html)))
        }

        let beside = try run(["report", "--data", data, "--checkpoint", "\(out)/model.safetensors", "--threads", "1", "--quiet"])
        #expect(beside.status == 0 && beside.stdout.contains("\(out)/report.html ("), "stdout: \(beside.stdout) stderr: \(beside.stderr)")
        let withLog = try page("\(out)/report.html")
        #expect(withLog.html.contains("<svg") && (withLog.data["epochs"] as? [Any])?.count == 2)
        // The settings come from the checkpoint's metadata: the batch size of the run.
        let settings = try #require(withLog.data["settings"] as? [[String]])
        #expect(settings.contains(["batch size", "32, shards of 4"]), "\(settings)")
        #expect((withLog.data["headline"] as? [String: Any])?["baselineMeanMSE"] == nil)

        // The checkpoint alone, elsewhere: no curves; --out and --baselines.
        let alone = data + "/alone"
        try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(out)/model.safetensors", toPath: "\(alone)/model.safetensors")
        let elsewhere = try run([
            "report", "--data", data, "--checkpoint", "\(alone)/model.safetensors", "--out", "\(data)/pages",
            "--baselines", "--threads", "1", "--quiet",
        ])
        #expect(elsewhere.status == 0, "stderr: \(elsewhere.stderr)")
        let noLog = try page("\(data)/pages/report.html")
        #expect(!noLog.html.contains("<svg") && (noLog.data["epochs"] as? [Any])?.isEmpty == true)
        #expect(((noLog.data["headline"] as? [String: Any])?["baselineMeanMSE"] as? Double ?? 0) > 0)
        #expect(!FileManager.default.fileExists(atPath: "\(alone)/report.html"))
    }

    @Test("trace records the first steps (teacher forcing, what the PyTorch replay does) with the default options")
    func traceRuns() throws {
        let data = try syntheticMNIST(train: 300, test: 20)
        let out = data + "/trace"
        let r = try run(["trace", "--data", data, "--out", out, "--steps", "30", "--batch-size", "32", "--quiet"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let trace = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/trace.json"))) as? [String: Any])
        #expect((trace["losses"] as? [Double])?.count == 30, "30 steps over more than one epoch (270 training images)")
    }

    @Test("a data set other than MNIST in the same format, with its own class names, trains and generates; a bad classes.txt is refused")
    func otherDataSet() throws {
        let data = try syntheticMNIST(train: 300, test: 60)
        let names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        try (names.joined(separator: "\n") + "\n").write(toFile: data + "/" + MNIST.classNamesFile, atomically: true, encoding: .utf8)
        let out = data + "/out"
        let r = try run(["run", "--data", data, "--out", out, "--epochs", "1", "--batch-size", "32", "--threads", "2", "--quiet"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("class") && r.stdout.contains("9 Ankle boot") && !r.stdout.contains("digit"), "stdout: \(r.stdout)")
        let metrics = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json"))) as? [String: Any])
        #expect(metrics["class_names"] as? [String] == names)
        let g = try run(["generate", "--data", data, "--checkpoint", "\(out)/model.safetensors", "--out", "\(out)/gen", "--quiet"])
        #expect(g.status == 0 && g.stdout.contains("1 Trouser"), "stderr: \(g.stderr)")

        try "Cat\nDog\n".write(toFile: data + "/" + MNIST.classNamesFile, atomically: true, encoding: .utf8)
        let bad = try run(["generate", "--data", data, "--checkpoint", "\(out)/model.safetensors", "--out", "\(out)/gen2", "--quiet"])
        #expect(
            bad.status != 0 && bad.stderr.contains("names 2 classes") && bad.stderr.split(separator: "\n").count == 1,
            "stderr: \(bad.stderr)")
    }

    @Test(
        "impossible options and bad inputs end in one line on stderr and a non-zero exit",
        arguments: [
            (["train", "--batch-size", "0"], "--batch-size must be at least 1"),
            (["train", "--batch-size", "100000"], "larger than the"),
            (["train", "--hidden", "0"], "--hidden must be at least 1"),
            (["train", "--learning-rate", "nan"], "--learning-rate must be a positive number"),
            (["train", "--learning-rate=-0.1"], "--learning-rate must be a positive number"),
            (["train", "--threads", "100000"], "more than the"),
            (["train", "--out", "/proc/forbidden"], "/proc/forbidden"),
            (["train", "--data", "/nonexistent"], "MNIST folder /nonexistent not found"),
            (["evaluate", "--checkpoint", "/nonexistent.safetensors"], "no such checkpoint file"),
            (["report", "--checkpoint", "/nonexistent.safetensors"], "no such checkpoint file"),
            (["train", "--hidden", "40000"], "GiB of buffers"),
            (["train", "--patience", "0"], "--patience must be at least 1"),
            (["train", "--resume", "/nonexistent.safetensors"], "no such checkpoint file"),
            (["train", "--monitor", "val_acc"], "val_acc"),
            (["train", "--scheduled-sampling", "1.5"], "--scheduled-sampling must be a probability from 0 to 1"),
            (["train", "--min-delta=-0.1"], "--min-delta must be 0 or more"),
            (["train", "--sampling-ramp", "0"], "--sampling-ramp must be at least 1"),
            (["train", "--placement", "scatter"], "scatter"),
        ])
    func badInput(args: [String], message: String) throws {
        let data = try syntheticMNIST(train: 100, test: 20)
        var full = args
        if !args.contains("--data") { full += ["--data", data] }
        if args[0] == "train" && !args.contains("--out") { full += ["--out", data + "/out"] }
        let r = try run(full + ["--quiet"])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(message), "stderr: \(r.stderr)")
    }

    @Test("after --resume, metrics.json reports the checkpoint's settings (flags that repeat them are accepted)")
    func resumedRunReportsItsOwnSettings() throws {
        let data = try syntheticMNIST(train: 300, test: 40)
        var o = TrainingOptions()
        o.model = ModelConfig(hidden: 12, layers: 1)
        o.batchSize = 32
        o.seed = 3
        o.learningRate = 0.002
        o.maxEpochs = 1
        let params = Parameters.initialized(o.model, seed: o.seed)
        try ResumeState.save(
            params: params, adam: AdamState(count: params.layout.paddedCount), best: params, options: o,
            progress: TrainingProgress(), to: data + "/resume.safetensors")
        let r = try run([
            "run", "--data", data, "--out", data + "/out", "--resume", data + "/resume.safetensors",
            "--batch-size", "32", "--seed", "3", "--threads", "1", "--quiet",
        ])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let metrics = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: data + "/out/metrics.json"))) as? [String: Any])
        #expect(metrics["batch_size"] as? Int == 32)
        #expect(metrics["seed"] as? Int == 3)
        #expect(metrics["hidden"] as? Int == 12)
        #expect(metrics["layers"] as? Int == 1)
        #expect(metrics["learning_rate"] as? Double == 0.002)
        #expect(metrics["cell"] as? String == "lstm")
    }

    @Test("generate and evaluate do not take the training-step options", arguments: ["generate", "evaluate"])
    func checkpointCommandsRefuseStepOptions(command: String) throws {
        for option in [["--shard-size", "4"], ["--mpi-exchange", "allreduce"], ["--batch-size", "8"]] {
            let r = try run([command, "--checkpoint", "/nonexistent.safetensors"] + option)
            #expect(r.status != 0)
            #expect(r.stderr.contains("Unknown option '\(option[0])'"), "stderr: \(r.stderr)")
        }
    }

    @Test("--cell gru trains, evaluates and generates; a --cell that contradicts a checkpoint, or names no cell, is one clear error")
    func gruEndToEnd() throws {
        let data = try syntheticMNIST(train: 300, test: 60)
        let out = data + "/gru"
        let r = try run([
            "run", "--cell", "gru", "--data", data, "--out", out, "--epochs", "2", "--batch-size", "32", "--threads", "2", "--quiet",
        ])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let metrics = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json"))) as? [String: Any])
        #expect(metrics["cell"] as? String == "gru")
        let (params, file) = try Safetensors.load(path: out + "/model.safetensors")
        #expect(params.config.cellName == "gru" && file.metadata["cell"] == "gru")
        #expect(file.tensors["gru.weight_hh_l1"]?.shape == [192, 64])

        let e = try run(["evaluate", "--data", data, "--checkpoint", out + "/model.safetensors", "--json", "--threads", "1"])
        #expect(e.status == 0, "stderr: \(e.stderr)")
        let evaluated = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any])
        #expect(evaluated["test_free_running_bottom_mse"] as? Double == metrics["test_free_running_bottom_mse"] as? Double)

        let g = try run([
            "generate", "--cell", "gru", "--data", data, "--checkpoint", out + "/model.safetensors", "--out", out + "/gen", "--quiet",
        ])
        #expect(g.status == 0, "stderr: \(g.stderr)")

        var resumeOptions = TrainingOptions()
        resumeOptions.model = params.config
        resumeOptions.maxEpochs = 1
        try ResumeState.save(
            params: params, adam: AdamState(count: params.layout.paddedCount), best: params, options: resumeOptions,
            progress: TrainingProgress(), to: data + "/resume.safetensors")
        let refusals: [([String], String)] = [
            (["evaluate", "--cell", "lstm", "--checkpoint", out + "/model.safetensors"], "--cell lstm contradicts"),
            (
                ["generate", "--cell", "lstm", "--checkpoint", out + "/model.safetensors", "--out", out + "/gen2"],
                "--cell lstm contradicts"
            ),
            (["train", "--cell", "lstm", "--resume", data + "/resume.safetensors", "--out", out + "/resumed"], "--cell lstm contradicts"),
            (["train", "--cell", "rnn", "--out", out + "/bad"], "--cell must be one of lstm, gru (got rnn)"),
            (["bench", "--cell", "rnn"], "--cell must be one of lstm, gru (got rnn)"),
        ]
        for (args, text) in refusals {
            let x = try run(args + (args[0] == "bench" ? [] : ["--data", data]) + ["--quiet"])
            #expect(x.status == 1)
            #expect(
                x.stderr.split(separator: "\n").count == 1 && x.stderr.hasPrefix("error: ") && x.stderr.contains(text),
                "\(args): \(x.stderr)")
        }
    }

    @Test(
        "bench, trace and topology refuse impossible options with one line and a non-zero exit",
        arguments: [
            (["bench", "--batch-size", "0"], "--batch-size must be at least 1"),
            (["bench", "--shard-size", "0"], "--shard-size must be at least 1"),
            (["bench", "--seconds", "0"], "--seconds must be positive"),
            (["bench", "--threads", "100000"], "--threads 100000 is more than the"),
            (["bench", "--cores", "x"], "--cores names 'x', which is not a PU index"),
            (["trace", "--steps", "0"], "--steps must be at least 1"),
            (["trace", "--batch-size", "0"], "--batch-size must be at least 1"),
            (["trace", "--hidden", "0"], "--hidden must be at least 1"),
            (["topology", "--threads", "0"], "--threads must be at least 1"),
            (["topology", "--threads", "100000"], "--threads 100000 is more than the"),
            (["topology", "--synthetic", "pack:2 bogus:4"], "hwloc cannot read the synthetic description 'pack:2 bogus:4'"),
            (["topology", "--xml", "/nonexistent/server.xml"], "/nonexistent/server.xml"),
            (["topology", "--synthetic", "core:4", "--xml", "x.xml"], "give one of them"),
            (["topology", "--synthetic", "core:4 pu:1", "--threads", "5"], "--threads 5 is more than the 4 physical cores"),
            (["bench", "--thread-counts", "1,0"], "--thread-counts: '0' is not a number from 1"),
            (["bench", "--threads", "1", "--thread-counts", "1,2"], "--thread-counts: '2' is not a number from 1 to the 1 worker(s)"),
            (["bench", "--oversubscribe", "--cores", "0"], "--cores pins workers, which --oversubscribe does not"),
            (["bench", "--oversubscribe", "--threads", "5000"], "--threads must be at most 4096"),
            (["bench", "--profile-steps", "-1"], "--profile-steps must be 0 (off) or more"),
            (["bench", "--profile-steps", "1", "--profile-images", "20000"], "--profile-images must be at most 10000"),
        ])
    func badToolOptions(args: [String], message: String) throws {
        var full = args
        if args[0] == "trace" {
            full += ["--data", try syntheticMNIST(train: 100, test: 20), "--out", NSTemporaryDirectory() + "trace-\(UUID())"]
        }
        let r = try run(full + (args[0] == "topology" ? [] : ["--quiet"]))
        #expect(r.status == 1)
        #expect(
            r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("error: ") && r.stderr.contains(message), "stderr: \(r.stderr)"
        )
    }

    @Test("an unknown PATCHRNN_TILE or PATCHRNN_GENERATION_GATES is refused before any work; the known ones run")
    func environmentOverrides() throws {
        let path = try #require(Self.binary, "patchrnn is not built")
        // The GRU, whose generation runs unfused unless PATCHRNN_GENERATION_GATES says grouped.
        let args = ["bench", "--threads", "1", "--cell", "gru", "--profile-steps", "1", "--profile-images", "10", "--quiet"]
        for (name, bad, good) in [("PATCHRNN_TILE", "simd32", "simd8"), ("PATCHRNN_GENERATION_GATES", "fused", "grouped")] {
            let refused = try runProcess(path, args, environment: [name: bad])
            #expect(refused.status == 1)
            #expect(refused.stderr.hasPrefix("error: \(name) must be ") && refused.stderr.contains("(got '\(bad)')"), "\(refused.stderr)")
            let ran = try runProcess(path, args, environment: [name: good])
            #expect(ran.status == 0, "\(name)=\(good): \(ran.stderr)")
        }
        // topology says how each cell's generation runs, and when the environment chose it.
        let plain = try run(["topology", "--threads", "1"])
        #expect(plain.stdout.contains("generation: LSTM fused step; GRU products and cell kernel apart\n"), "\(plain.stdout)")
        let forced = try runProcess(path, ["topology", "--threads", "1"], environment: ["PATCHRNN_GENERATION_GATES": "grouped"])
        #expect(forced.stdout.contains("GRU fused step, set by PATCHRNN_GENERATION_GATES"), "\(forced.stdout)")
    }

    @Test("topology --synthetic and --xml print the plan for the machine described")
    func topologyOfDescribedMachine() throws {
        let nps4 = Servers.epyc9654NPS4.synthetic
        let r = try run(["topology", "--synthetic", nps4, "--threads", "48", "--placement", "spread"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("described machine (synthetic \"\(nps4)\"), not this one"))
        #expect(r.stdout.contains("packages: 2   NUMA nodes: 8   L3 groups: 24   L2 groups: 0   cores: 192   PUs: 384"), "\(r.stdout)")
        #expect(r.stdout.contains("placement for 48 worker(s), spread, "))
        #expect(r.stdout.contains("per NUMA node: 6, 6, 6, 6, 6, 6, 6, 6;"), "\(r.stdout)")
        // The same server read from an XML export gives the same plan.
        let xml = try temporaryDirectory() + "/nps4.xml"
        #expect(try Topology(.synthetic(nps4)).exportXML(to: xml))
        let x = try run(["topology", "--xml", xml, "--threads", "48", "--placement", "spread"])
        #expect(x.status == 0, "\(x.stderr)")
        let plan = { (out: String) in
            out.split(separator: "\n").filter { $0.hasPrefix("placement") || $0.hasPrefix("workers per") || $0.hasPrefix("gradient sum") }
        }
        #expect(plan(x.stdout) == plan(r.stdout) && plan(r.stdout).count == 3)
    }

    @Test("--oversubscribe runs more workers than cores, unpinned, says speed means nothing, and trains as one worker does")
    func oversubscribedTraining() throws {
        let data = try syntheticMNIST(train: 300, test: 20)
        let common = ["train", "--data", data, "--epochs", "1", "--batch-size", "40", "--seed", "3"]
        let many = try run(common + ["--threads", "24", "--oversubscribe", "--out", data + "/many"])
        #expect(many.status == 0, "\(many.stderr)")
        #expect(many.stderr.contains("workers: 24, unpinned"), "\(many.stderr)")
        #expect(many.stderr.contains("oversubscribed: 24 workers on") && many.stderr.contains("speed figures from this run mean nothing"))
        let one = try run(common + ["--threads", "1", "--out", data + "/one", "--quiet"])
        #expect(one.status == 0, "\(one.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: data + "/many/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: data + "/one/model.safetensors"))
        #expect(a == b, "the checkpoints differ")
    }

    /// Starts patchrnn without waiting; stderr goes to a file so the test can watch it.
    func start(_ args: [String], stderrFile: String) throws -> Process {
        let path = try #require(Self.binary)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrFile))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    @Test(
        "SIGINT and SIGTERM save a resume checkpoint and exit 130/143; --resume ends bit-identical to an uninterrupted run",
        arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func interruptAndResume(signal: Int32, status: Int32) throws {
        let data = try syntheticMNIST(train: 2500, test: 50)
        let common = ["--data", data, "--epochs", "12", "--patience", "12", "--batch-size", "32", "--threads", "2"]
        let straight = try run(["train", "--out", data + "/straight", "--quiet"] + common)
        #expect(straight.status == 0, "\(straight.stderr)")

        let log = data + "/stderr.txt"
        let p = try start(["train", "--out", data + "/interrupted"] + common, stderrFile: log)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Epoch 2/") == true { break }
            usleep(20_000)
        }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == status, "stderr: \(text)")
        #expect(text.contains("--resume"), "stderr: \(text)")
        let resumeFile = data + "/interrupted/resume.safetensors"
        #expect(FileManager.default.fileExists(atPath: resumeFile))

        let resumed = try run([
            "train", "--out", data + "/interrupted", "--resume", resumeFile, "--quiet", "--data", data, "--threads", "1",
        ])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let (a, _) = try Safetensors.load(path: data + "/straight/model.safetensors")
        let (b, _) = try Safetensors.load(path: data + "/interrupted/model.safetensors")
        #expect(a.buffer.array == b.buffer.array, "resumed run differs from the uninterrupted one")
    }

    @Test("kill -9 at random moments never leaves a damaged checkpoint: the old or the new file, complete")
    func killDuringSave() throws {
        let data = try syntheticMNIST(train: 300, test: 20)
        let out = data + "/out"
        var rng = SeededRandom(seed: 5)
        var loadedAtLeastOnce = false
        for round in 0..<10 {
            let p = try start(
                [
                    "train", "--data", data, "--out", out, "--epochs", "1000", "--patience", "1000",
                    "--batch-size", "16", "--threads", "1", "--quiet",
                ], stderrFile: data + "/log\(round)")
            usleep(useconds_t(300_000 + rng.below(900_000)))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if FileManager.default.fileExists(atPath: out + "/model.safetensors") {
                #expect(throws: Never.self) { _ = try Safetensors.load(path: out + "/model.safetensors") }
                loadedAtLeastOnce = true
            }
        }
        #expect(loadedAtLeastOnce)
    }

    @Test("--help of every subcommand explains its options")
    func help() throws {
        for sub in ["run", "train", "generate", "evaluate", "report", "bench", "topology", "trace"] {
            let r = try run([sub, "--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("USAGE") || r.stdout.contains("usage"))
        }
        #expect(try run(["train", "--help"]).stdout.contains("--learning-rate"))
    }
}
