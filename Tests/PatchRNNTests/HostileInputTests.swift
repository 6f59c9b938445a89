import CZlib
import Foundation
import Testing

@testable import PatchRNN

/// Everything read is checked before it is trusted (resume states, checkpoints, data files),
/// memory that is refused is a message, messages name their cause, and the files the tool
/// creates cannot be turned against their owner.
@Suite("Hostile inputs: resume states, checkpoints, data files, memory, messages, files", .serialized)
struct HostileInputTests {
    // MARK: Resume states

    /// A valid resume state of a small run, as the file's header holds it.
    func validResume(_ dir: String) throws -> (path: String, params: Parameters, options: TrainingOptions) {
        var o = TrainingOptions()
        o.model = ModelConfig(hidden: 8, layers: 1)
        o.batchSize = 32
        o.maxEpochs = 3
        let params = Parameters.initialized(o.model, seed: 1)
        let path = dir + "/resume.safetensors"
        var progress = TrainingProgress()
        progress.learningRate = o.learningRate
        try ResumeState.save(
            params: params, adam: AdamState(count: params.layout.paddedCount), best: params, options: o,
            progress: progress, to: path)
        return (path, params, o)
    }

    /// The same file with its progress JSON changed by `edit`.
    func editedResume(_ path: String, to out: String, _ edit: (inout [String: Any]) -> Void) throws {
        let (params, file) = try Safetensors.load(path: path)
        var progress = try #require(
            try JSONSerialization.jsonObject(with: Data(file.metadata[ResumeState.progressKey]!.utf8)) as? [String: Any])
        edit(&progress)
        var meta = file.metadata
        meta[ResumeState.progressKey] = String(
            decoding: try JSONSerialization.data(withJSONObject: progress, options: [.sortedKeys]), as: UTF8.self)
        let n = params.layout.paddedCount
        try Safetensors.save(
            params, metadata: meta, to: out,
            extra: [
                (ResumeState.tensorNames.m, file.tensors[ResumeState.tensorNames.m]?.values ?? Array(repeating: 0, count: n)),
                (ResumeState.tensorNames.v, file.tensors[ResumeState.tensorNames.v]?.values ?? Array(repeating: 0, count: n)),
                (ResumeState.tensorNames.best, file.tensors[ResumeState.tensorNames.best]?.values ?? Array(repeating: 0, count: n)),
            ])
    }

    @Test(
        "a resume state with any counter at 2^63-1, negative, or out of step with the others, or any float not finite, is refused by the tool in one line"
    )
    func impossibleResumeStates() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 200, test: 20)
        let (path, _, _) = try validResume(data)
        let big = Int.max
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            ("globalStep max", { $0["globalStep"] = big }), ("epoch max", { $0["epoch"] = big }),
            ("stepInEpoch max", { $0["stepInEpoch"] = big }), ("samples max", { $0["samples"] = big }),
            ("sinceBest max", { $0["sinceBest"] = big }), ("bestEpoch max", { $0["bestEpoch"] = big }),
            ("epoch 0", { $0["epoch"] = 0 }), ("sinceBest -1", { $0["sinceBest"] = -1 }),
            ("globalStep without steps", { $0["globalStep"] = 5 }), ("lossSum nan", { $0["lossSum"] = "nan" }),
            ("lossSum inf", { $0["lossSum"] = "inf" }), ("secondsSoFar -1", { $0["secondsSoFar"] = -1 }),
            ("learningRate 0", { $0["learningRate"] = 0 }), ("learningRate nan", { $0["learningRate"] = "nan" }),
            ("learningRate above the run's", { $0["learningRate"] = 1 }), ("bestValLoss -inf", { $0["bestValLoss"] = "-inf" }),
            ("bestValLoss without best epoch", { $0["bestValLoss"] = 0.5 }), ("history of a later epoch", { $0["epoch"] = 2 }),
            ("not JSON numbers", { $0["epoch"] = "one" }),
        ]
        for (name, edit) in edits {
            try editedResume(path, to: data + "/bad.safetensors", edit)
            let r = try runProcess(
                binary,
                [
                    "train", "--data", data, "--out", data + "/out-\(name.hashValue)", "--resume", data + "/bad.safetensors", "--threads",
                    "1", "--quiet",
                ])
            #expect(r.status == 1, "\(name): status \(r.status) \(r.stderr)")
            #expect(
                r.stderr.hasPrefix("error: ") && r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("bad.safetensors"),
                "\(name): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: data + "/out-\(name.hashValue)"), "\(name): the output folder was created")
        }
        // Adam's step, which lives outside the progress JSON.
        let (params, file) = try Safetensors.load(path: path)
        for step in ["9223372036854775807", "-1", "1", "x"] {
            var meta = file.metadata
            meta[ResumeState.stepKey] = step
            try Safetensors.save(
                params, metadata: meta, to: data + "/step.safetensors",
                extra: [ResumeState.tensorNames.m, ResumeState.tensorNames.v, ResumeState.tensorNames.best].map {
                    ($0, file.tensors[$0]!.values)
                })
            let (_, f) = try Safetensors.load(path: data + "/step.safetensors")
            #expect(throws: PatchRNNError.self, "adam step \(step)") { _ = try ResumeState.info(f, name: "step") }
        }
        // Non-finite or negative optimizer state.
        for (tensor, value) in [
            (ResumeState.tensorNames.m, Float.nan), (ResumeState.tensorNames.v, -1), (ResumeState.tensorNames.best, .infinity),
        ] {
            var extra = [ResumeState.tensorNames.m, ResumeState.tensorNames.v, ResumeState.tensorNames.best].map {
                ($0, file.tensors[$0]!.values)
            }
            extra[extra.firstIndex { $0.0 == tensor }!].1[3] = value
            try Safetensors.save(params, metadata: file.metadata, to: data + "/t.safetensors", extra: extra)
            let (loaded, f) = try Safetensors.load(path: data + "/t.safetensors")
            let e = #expect(throws: PatchRNNError.self) { _ = try ResumeState.read(f, name: "t", layout: loaded.layout) }
            #expect(e?.description.contains(tensor) == true, "\(String(describing: e))")
        }
    }

    @Test("thousands of random mutations of a resume state's JSON: each is refused in one line or gives a trainer, never a trap")
    func fuzzResumeStates() throws {
        let dir = try temporaryDirectory()
        let (path, _, options) = try validResume(dir)
        let (_, file) = try Safetensors.load(path: path)
        let text = file.metadata[ResumeState.progressKey]!
        let set = randomPatchSet(count: 100, seed: 3)
        let pool = makePool(1)
        var rng = SeededRandom(seed: 31)
        let numbers = [
            "9223372036854775807", "-9223372036854775808", "-1", "0", "1", "2", "3", "1e308", "\"nan\"", "\"inf\"", "null", "[]", "true",
        ]
        var accepted = 0, refused = 0
        for round in 0..<2000 {
            var progress = text
            for _ in 0..<(1 + rng.below(3)) {  // replace a number (or a string float) with another
                let digits = progress.indices.filter { progress[$0].isNumber }
                guard let at = digits.randomElement(using: &rng) else { break }
                var end = at
                while end < progress.endIndex && (progress[end].isNumber || progress[end] == ".") { end = progress.index(after: end) }
                progress.replaceSubrange(at..<end, with: numbers[rng.below(numbers.count)])
            }
            var meta = file.metadata
            meta[ResumeState.progressKey] = progress
            let params = Parameters.initialized(options.model, seed: 1)
            let mutated = Safetensors.File(tensors: file.tensors, metadata: meta)
            do {
                let state = try ResumeState.read(mutated, name: "fuzz", layout: params.layout)
                let engine = try TrainingEngine(
                    params: params, adamConfig: AdamConfig(learningRate: options.learningRate), pool: pool, shape: options.shape)
                var configuration = Trainer.Configuration(options: state.options)
                configuration.generator = try Generator(params: params, pool: pool)
                _ = try Trainer(
                    configuration, engine: engine, data: set, split: Split(count: set.count, validationFraction: 0.2, seed: 1),
                    reporter: ProgressReporter(quiet: true), resume: state)
                accepted += 1
            } catch let e as PatchRNNError {
                refused += 1
                #expect(!e.description.contains("\n"), "round \(round): \(e.description)")
            }
        }
        #expect(refused > 1000, "accepted \(accepted), refused \(refused)")
    }

    // MARK: Checkpoints

    @Test("a checkpoint with a NaN or an infinity in any tensor is refused naming the tensor; evaluate and generate write nothing")
    func nonFiniteCheckpoints() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 60, test: 20)
        for (tensor, value) in [("linear.bias", Float.nan), ("lstm.weight_hh_l0", Float.infinity), ("lstm.bias_ih_l1", -Float.infinity)] {
            let params = Parameters.initialized(ModelConfig(hidden: 8, layers: 2), seed: 1)
            let view = try #require(params.layout.allViews.first { $0.name == tensor })
            params.buffer[view.offset + 2] = value
            try Safetensors.save(params, metadata: [:], to: data + "/bad.safetensors")
            for command in ["evaluate", "generate"] {
                let out = data + "/gen-\(command)"
                let r = try runProcess(
                    binary,
                    [command, "--data", data, "--checkpoint", data + "/bad.safetensors", "--quiet"]
                        + (command == "generate" ? ["--out", out] : ["--json"]))
                #expect(r.status == 1 && r.stdout.isEmpty, "\(command) \(tensor): \(r.status) \(r.stdout)")
                #expect(
                    r.stderr.hasPrefix("error: ") && r.stderr.contains(tensor) && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: out), "\(command): created its output folder")
            }
        }
    }

    // MARK: Data files

    @Test(
        "a data file that is a FIFO, a device or a folder is refused at once; a header or gzip stream that promises more than the file holds is refused before it is read"
    )
    func hostileDataFiles() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let base = try writeSyntheticMNIST(train: 60, test: 20)
        let images = MNIST.files.trainImages + ".gz"
        func gz(_ bytes: [UInt8], _ path: String) {
            let f = gzopen(path, "wb9")
            _ = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
            gzclose(f)
        }
        let cases: [(String, (String) throws -> Void, String)] = [
            ("fifo", { #expect(mkfifo($0, 0o644) == 0) }, "not a regular file"),
            ("device", { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: "/dev/zero") }, "not a regular file"),
            ("folder", { try FileManager.default.createDirectory(atPath: $0, withIntermediateDirectories: false) }, "is a directory"),
            // 60,000 images promised by a 4 KiB gzip file: deflate cannot expand that far.
            (
                "bomb header", { gz(idxBytes(dims: [60000, 28, 28], payload: [UInt8](repeating: 0, count: 4096)), $0) },
                "more than a gzip file"
            ),
            // One image promised, 64 MB of zeros after it (a 64 KiB file): refused after 785 bytes.
            (
                "bomb tail", { gz(idxBytes(dims: [60, 28, 28], payload: [UInt8](repeating: 0, count: 64 << 20)), $0) },
                "unexpected bytes after the data"
            ),
            ("huge header", { gz(idxBytes(dims: [0x7FFF_FFFF, 28, 28], payload: []), $0) }, "implausibly large"),
        ]
        for (name, make, message) in cases {
            let dir = base + "/" + name.replacingOccurrences(of: " ", with: "-")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: base) where f.hasSuffix(".gz") && f != images {
                try FileManager.default.copyItem(atPath: base + "/" + f, toPath: dir + "/" + f)
            }
            try make(dir + "/" + images)
            // `timeout`: a hang must fail the test, not stop the suite.
            let r = try runProcess(
                "/usr/bin/timeout", ["60", binary, "train", "--data", dir, "--out", dir + "/out", "--batch-size", "8", "--quiet"])
            #expect(r.status == 1, "\(name): status \(r.status) \(r.stderr)")
            #expect(
                r.stderr.hasPrefix("error: ") && r.stderr.contains(images) && r.stderr.contains(message)
                    && r.stderr.split(separator: "\n").count == 1,
                "\(name): \(r.stderr)")
            // What the headers show is checked before the output folder is made; what only the
            // whole stream shows (bytes after the data) when the data is loaded.
            if name != "bomb tail" {
                #expect(
                    !FileManager.default.fileExists(atPath: dir + "/out"),
                    "\(name): the output folder was created before the data was checked")
            }
        }
    }

    // MARK: Memory

    @Test(
        "memory the system refuses (ulimit -v) ends in one line naming what it was for, never a trap, at every limit",
        arguments: [100, 140, 180, 220, 1000])
    func outOfMemory(megabytes: Int) throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 2000, test: 200)
        // At 1000 MB the data fits and a model with hidden 2048 (4 GB of buffers) does not.
        let extra = megabytes == 1000 ? ["--hidden", "2048"] : []
        let r = try runRedirected(
            binary, ["run", "--data", data, "--out", data + "/out", "--epochs", "1", "--threads", "2", "--quiet"] + extra,
            shellPrefix: "ulimit -v \(megabytes * 1000);")
        let lines = r.stderr.split(separator: "\n")
        #expect(r.status == 0 || r.status == 1, "status \(r.status): \(r.stderr.prefix(400))")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("crashed"), "\(r.stderr.prefix(400))")
        if r.status == 1 {
            #expect(
                lines.count == 1 && (r.stderr.contains("not enough memory for") || r.stderr.contains("cannot start worker thread")),
                "\(r.stderr)")
        }
        if megabytes == 1000 { #expect(r.status == 1 && r.stderr.contains("not enough memory for"), "\(r.stderr)") }
    }

    @Test(
        "the issue's case: ulimit -v 300000 and the full MNIST ends in one line",
        .enabled(if: realMNISTDirectory() != nil || runningUnderCI, "needs the real MNIST files"))
    func outOfMemoryOnMNIST() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try #require(realMNISTDirectory(), "MNIST not found")
        let out = try temporaryDirectory()
        let r = try runRedirected(
            binary, ["run", "--data", data, "--out", out, "--epochs", "1", "--quiet"], shellPrefix: "ulimit -v 300000;")
        #expect(
            r.status == 1 && r.stderr.hasPrefix("error: not enough memory for 60000 images") && r.stderr.split(separator: "\n").count == 1,
            "\(r.stderr.prefix(400))")
    }

    // MARK: Messages name their cause

    @Test("--cores with no PU names --cores; a diverging run says no model was saved when none was")
    func messagesNameTheirCause() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 300, test: 20)
        for cores in ["", " ", ","] {
            let r = try runProcess(binary, ["train", "--data", data, "--out", data + "/c", "--cores", cores, "--quiet"])
            #expect(r.status == 1 && r.stderr.contains("--cores") && !r.stderr.contains("--threads"), "--cores '\(cores)': \(r.stderr)")
        }
        let r = try runProcess(
            binary, ["train", "--data", data, "--out", data + "/lr", "--learning-rate", "1e30", "--threads", "1", "--quiet"])
        #expect(r.status == 1 && r.stderr.contains("no model was saved") && !r.stderr.contains("are in the checkpoint"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data + "/lr/model.safetensors"))
    }

    @Test("a run that diverges after an improving epoch names the checkpoint that keeps it")
    func divergenceAfterAnEpoch() throws {
        let set = randomPatchSet(count: 80, seed: 2)
        let dir = try temporaryDirectory()
        var o = TrainingOptions()
        o.model = ModelConfig(hidden: 8, layers: 1)
        o.batchSize = 16
        o.maxEpochs = 3
        o.monitor = .valLoss
        let params = Parameters.initialized(o.model, seed: 1)
        let pool = makePool(1)
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(learningRate: o.learningRate), pool: pool, shape: o.shape)
        var configuration = Trainer.Configuration(options: o)
        configuration.checkpointPath = dir + "/model.safetensors"
        let breaker = Hooks(epoch: { _ in params.buffer[5] = .nan })  // the weights break after epoch 1
        let trainer = try Trainer(
            configuration, engine: engine, data: set, split: Split(count: 80, validationFraction: 0.2, seed: 1),
            reporter: ProgressReporter(quiet: true), observers: [breaker])
        let e = #expect(throws: PatchRNNError.self) { _ = try trainer.train() }
        let text = e?.description ?? ""
        #expect(text.contains("became nan") && text.contains(dir + "/model.safetensors keeps the weights of epoch 1"), "\(text)")
    }

    @Test(
        "--resume with a flag that contradicts the resumed run is refused for every setting, naming the flag; the same value, or a flag that changes no result, is accepted"
    )
    func resumeConflicts() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 200, test: 20)
        let (path, _, o) = try validResume(data)
        let conflicts: [[String]] = [
            ["--batch-size", "16"], ["--shard-size", "8"], ["--epochs", "6"], ["--learning-rate", "0.01"], ["--patience", "2"],
            ["--lr-patience", "0"], ["--seed", "7"], ["--validation-fraction", "0.2"], ["--hidden", "16"], ["--layers", "2"],
            ["--train-limit", "100"], ["--monitor", "val_loss"], ["--min-delta", "0.01"], ["--scheduled-sampling", "0.5"],
            ["--sampling-ramp", "3"], ["--plain"], ["--cell", "gru"],
        ]
        for flag in conflicts {
            let out = data + "/out-\(flag[0].dropFirst(2))"
            let r = try runProcess(binary, ["train", "--data", data, "--out", out, "--resume", path, "--threads", "1", "--quiet"] + flag)
            #expect(r.status == 1, "\(flag): status \(r.status)")
            #expect(
                r.stderr.hasPrefix("error: \(flag[0])") && r.stderr.contains("contradicts") && r.stderr.split(separator: "\n").count == 1,
                "\(flag): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(flag): the output folder was created")
        }
        let same = [
            "--batch-size", "\(o.batchSize)", "--epochs", "\(o.maxEpochs)", "--hidden", "8", "--layers", "1", "--seed", "1", "--cell",
            "lstm",
            "--learning-rate", "\(o.learningRate)", "--monitor", o.monitor.rawValue, "--threads", "2", "--resume-every", "0.5",
        ]
        let ok = try runProcess(binary, ["train", "--data", data, "--out", data + "/same", "--resume", path, "--quiet"] + same)
        #expect(ok.status == 0, "\(ok.stderr)")
        let help = try runProcess(binary, ["train", "--help"]).stdout
        #expect(help.contains("contradicts them is refused"), "--help does not say how --resume treats other flags")
    }

    // MARK: Files

    @Test("a file or symbolic link planted under a temporary file's name is never written through; temporary files are created 0600")
    func plantedTemporaryFiles() throws {
        let dir = try temporaryDirectory()
        let victim = dir + "/victim"
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        for name in ["model.safetensors", "metrics.json"] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/.\(name).tmp-\(getpid())", withDestinationPath: victim)
            try writeFileAtomically(Array("new \(name)".utf8), to: dir + "/" + name)
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious", "\(name): written through the link")
            #expect(try String(contentsOfFile: dir + "/" + name, encoding: .utf8) == "new \(name)")
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.posixPermissions] as? Int)
            #expect(mode == 0o644 & ~processUmask(), "final mode \(String(mode, radix: 8))")
        }
        // The folder's write check: a link planted under its name is not followed either.
        try FileManager.default.createSymbolicLink(atPath: dir + "/.patchrnn-write-check-\(getpid())", withDestinationPath: victim)
        try? prepareOutputDirectory(dir)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        let (fd, tmp) = try createTemporaryFile(forWriting: dir + "/x", in: dir, name: "x")
        var st = stat()
        #expect(fstat(fd, &st) == 0 && st.st_mode & 0o777 == 0o600, "temporary file mode \(String(st.st_mode & 0o777, radix: 8))")
        close(fd)
        unlink(tmp)
    }

    @Test(
        "no output folder is created before the inputs are checked: generate, evaluate, train, run and trace with a bad checkpoint, resume file or data folder"
    )
    func noFolderBeforeValidation() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 100, test: 20)
        let params = Parameters.initialized(ModelConfig(hidden: 8, layers: 1), seed: 1)
        try Safetensors.save(params, metadata: [:], to: data + "/weights.safetensors")
        let cases: [[String]] = [
            ["generate", "--data", data, "--checkpoint", data + "/none.safetensors"],
            ["generate", "--data", data + "/nowhere", "--checkpoint", data + "/weights.safetensors"],
            ["train", "--data", data, "--resume", data + "/none.safetensors"],
            ["train", "--data", data, "--resume", data + "/weights.safetensors"],
            ["run", "--data", data + "/nowhere"],
            ["train", "--data", data + "/nowhere"],
            ["trace", "--data", data + "/nowhere"],
        ]
        for (i, args) in cases.enumerated() {
            let out = data + "/out\(i)"
            let r = try runProcess(binary, args + ["--out", out, "--quiet"])
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args): created \(out)")
        }
    }
}

/// This process's umask, read without changing it (/proc/self/status).
func processUmask() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") }
    return line.flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0o022
}
