import Foundation
import Testing

@testable import PatchRNN

/// A hard kill loses at most one epoch: the resume state is rewritten at every epoch's end (and,
/// if asked, within epochs), and resuming from any of them ends bit-identical to a run that
/// was never stopped.
@Suite("Hard kills and the resume state written as training goes", .serialized)
struct HardKillTests {
    let data = randomPatchSet(count: 120, seed: 21)

    func options() -> TrainingOptions {
        var o = TrainingOptions()
        o.model = ModelConfig(hidden: 16, layers: 2)
        o.batchSize = 20
        o.shardSize = 8
        o.maxEpochs = 4
        o.patience = 3
        o.lrPatience = 1
        o.seed = 9
        o.sampling = ScheduledSampling(maxProbability: 0.5, rampEpochs: 1)
        return o
    }

    func trainer(
        _ params: Parameters, threads: Int, resumePath: String?, resume: ResumeState? = nil, observers: [any TrainingObserver] = [],
        configure: (inout Trainer.Configuration) -> Void = { _ in }
    ) throws -> Trainer {
        let o = options(), pool = makePool(threads)
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(learningRate: o.learningRate), pool: pool, shape: o.shape)
        var configuration = Trainer.Configuration(options: o)
        configuration.generator = try Generator(params: params, pool: pool)
        configuration.resumePath = resumePath
        configure(&configuration)
        return try Trainer(
            configuration, engine: engine, data: data, split: Split(count: data.count, validationFraction: 0.2, seed: o.seed),
            reporter: ProgressReporter(quiet: true), observers: observers, resume: resume)
    }

    /// Resumes from the file at `path` (on `threads` threads) and returns the final weights.
    func resumed(from path: String, threads: Int) throws -> (weights: [Float], result: TrainingResult) {
        let (loaded, file) = try Safetensors.load(path: path)
        let state = try ResumeState.read(file, name: path, layout: loaded.layout)
        #expect(!state.finished, "\(path) is marked finished")
        let result = try trainer(loaded, threads: threads, resumePath: nil, resume: state).train()
        return (loaded.buffer.array, result)
    }

    @Test("the state written at each epoch's end, resumed, ends bit-identical; the last one is marked finished")
    func everyEpochEnd() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/resume.safetensors"
        let params = Parameters.initialized(options().model, seed: 9)
        var captured: [String] = []
        // When epoch k's record is made, the file still holds the state of epoch k - 1's end.
        let copier = Hooks(epoch: { record in
            guard FileManager.default.fileExists(atPath: path) else { return }
            let copy = dir + "/after-epoch-\(record.epoch - 1).safetensors"
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            captured.append(copy)
        })
        let expected = try trainer(params, threads: 2, resumePath: path, observers: [copier]).train()
        #expect(captured.count == expected.history.count - 1, "states captured: \(captured)")
        for (i, state) in captured.enumerated() {
            let (weights, result) = try resumed(from: state, threads: 1 + i % 3)
            #expect(weights == params.buffer.array, "resumed from \(state): final weights differ")
            #expect(result.history.map(\.valLoss) == expected.history.map(\.valLoss))
        }
        let (_, file) = try Safetensors.load(path: path)
        let last = try ResumeState.info(file, name: path)
        #expect(last.finished && last.progress.history.count == expected.history.count)
    }

    @Test("with a time interval, the state is also written within epochs, and any of those resumes bit-identically")
    func withinEpochs() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/resume.safetensors"
        let params = Parameters.initialized(options().model, seed: 9)
        var captured: [String] = []
        var rng = SeededRandom(seed: 4)
        // resumeEvery 0: after every step. At step n the file holds the state after step n - 1.
        let copier = Hooks(step: { step in
            if step > 1 && rng.below(4) == 0 {
                let copy = dir + "/after-step-\(step - 1).safetensors"
                try? FileManager.default.copyItem(atPath: path, toPath: copy)
                captured.append(copy)
            }
            return true
        })
        let expected = try trainer(params, threads: 1, resumePath: path, observers: [copier]) { c in c.resumeEvery = 0 }.train()
        #expect(captured.count >= 3, "\(captured)")
        for state in captured.prefix(4) {
            let (weights, result) = try resumed(from: state, threads: 2)
            #expect(weights == params.buffer.array, "resumed from \(state): final weights differ")
            #expect(result.history.map(\.trainLoss) == expected.history.map(\.trainLoss))
        }
    }

    @Test(
        "kill -9 at random moments, then --resume (or a fresh start before the first epoch ended), until the run completes: bit-identical to an uninterrupted run; a second --resume says the run is complete"
    )
    func killNineAndResume() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let data = try writeSyntheticMNIST(train: 1500, test: 40)
        let common = ["--data", data, "--epochs", "6", "--patience", "6", "--batch-size", "32", "--threads", "1", "--quiet"]
        let started = Date()
        let straight = try runProcess(binary, ["train", "--out", data + "/straight"] + common)
        #expect(straight.status == 0, "\(straight.stderr)")
        // The kill moments scale with this machine's speed: fractions of the uninterrupted run's
        // time (fixed delays let a fast machine finish before the second kill). The first two
        // land in its first 25% (a run resumed after at most 2 of 6 epochs would have to be 3x
        // faster than the first to finish before its kill), later ones anywhere up to 90%.
        let straightSeconds = Date().timeIntervalSince(started)
        let out = data + "/killed", resume = out + "/resume.safetensors"
        var rng = SeededRandom(seed: 17)
        var kills = 0, finished = false
        for _ in 0..<40 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["train", "--out", out] + common + (FileManager.default.fileExists(atPath: resume) ? ["--resume", resume] : [])
            p.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            p.standardError = errors
            try p.run()
            let fraction = kills < 2 ? 0.05 + 0.2 * Double(rng.below(1000)) / 1000 : 0.1 + 0.8 * Double(rng.below(1000)) / 1000
            usleep(useconds_t(straightSeconds * fraction * 1e6))
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                kills += 1
            }
            p.waitUntilExit()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if p.terminationReason == .exit {
                #expect(p.terminationStatus == 0 || text.contains("is complete"), "status \(p.terminationStatus): \(text)")
                finished = true
                break
            }
        }
        #expect(finished && kills >= 2, "\(kills) kills, finished: \(finished)")
        let (a, _) = try Safetensors.load(path: data + "/straight/model.safetensors")
        let (b, _) = try Safetensors.load(path: out + "/model.safetensors")
        #expect(a.buffer.array == b.buffer.array, "after \(kills) kills the final weights differ from an uninterrupted run")
        let logA = try String(contentsOfFile: data + "/straight/train-log.jsonl", encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",").filter { $0.contains("loss") }
        }
        let logB = try String(contentsOfFile: out + "/train-log.jsonl", encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",").filter { $0.contains("loss") }
        }
        #expect(logA == logB, "the logs' losses differ")
        let again = try runProcess(binary, ["train", "--out", out, "--resume", resume] + common)
        #expect(
            again.status == 1 && again.stderr.contains("is complete") && again.stderr.split(separator: "\n").count == 1, "\(again.stderr)")
    }
}
