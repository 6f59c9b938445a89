import CZlib
import Foundation
import Testing

@testable import PatchRNN

/// Approximate equality with explicit tolerances: |a - b| <= absolute + relative * |b|.
struct Tolerance {
    var absolute: Double
    var relative: Double
    func accepts(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= absolute + relative * abs(b) }
}

/// The worst element of `actual` against `expected`, for a readable failure message.
func worstMismatch(_ actual: [Float], _ expected: [Float], _ tol: Tolerance) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) != \(expected.count)" }
    var worst: (Int, Double)? = nil
    for i in actual.indices where !tol.accepts(Double(actual[i]), Double(expected[i])) {
        let excess = abs(Double(actual[i] - expected[i]))
        if worst == nil || excess > worst!.1 { worst = (i, excess) }
    }
    guard let (i, _) = worst else { return nil }
    return "element \(i): got \(actual[i]), expected \(expected[i])"
}

func fixtureURL(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
}

func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "patchrnn-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Random sequences in [0, 1) with labels cycling 0-9.
func randomPatchSet(count: Int, seed: UInt64) -> PatchSet {
    var rng = SeededRandom(seed: seed)
    let buf = FloatBuffer(count: count * PatchSet.sequenceLength)
    for i in 0..<buf.count { buf[i] = rng.uniform(0, 1) }
    return PatchSet(sequences: buf, labels: (0..<count).map { UInt8($0 % 10) })
}

/// Smooth synthetic "digits": each class a different blob, so a model can learn something.
func syntheticDigits(count: Int, seed: UInt64) -> (images: [UInt8], labels: [UInt8]) {
    var rng = SeededRandom(seed: seed)
    var images = [UInt8](repeating: 0, count: count * 784), labels = [UInt8]()
    for n in 0..<count {
        let d = n % 10
        labels.append(UInt8(d))
        let cx = 8.0 + Double(d) * 1.3 + Double(rng.uniform(-1, 1)), cy = 14.0 + Double(rng.uniform(-2, 2))
        for y in 0..<28 {
            for x in 0..<28 {
                let r = ((Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy) / 4).squareRoot()
                images[n * 784 + y * 28 + x] = UInt8(max(0, min(255, 255 * (1 - abs(r - 5) / 2))))
            }
        }
    }
    return (images, labels)
}

func idxBytes(magicType: UInt8 = 0x08, dims: [Int], payload: [UInt8]) -> [UInt8] {
    var b: [UInt8] = [0, 0, magicType, UInt8(dims.count)]
    for d in dims { b += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
    return b + payload
}

/// The real MNIST folder, if this machine has one (data/mnist or ../shared/data/mnist).
func realMNISTDirectory() -> String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    for dir in [ProcessInfo.processInfo.environment["PATCHRNN_DATA"], root + "/data/mnist", root + "/../shared/data/mnist"].compactMap({
        $0
    })
    where FileManager.default.fileExists(atPath: dir + "/train-images-idx3-ubyte.gz") {
        return dir
    }
    return nil
}

/// True under CI (the CI variable set): there the real MNIST files and an MPI build are
/// always available, so a test that would skip for want of them fails instead.
let runningUnderCI: Bool = {
    let v = ProcessInfo.processInfo.environment["CI"] ?? ""
    return !v.isEmpty && v != "0" && v.lowercased() != "false"
}()

/// One pool for all tests of a suite that need one, unpinned (tests run in parallel).
func makePool(_ threads: Int) -> WorkerPool { try! WorkerPool(placement: Array(repeating: nil, count: threads), topology: nil) }

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a program to the end and collects its exit status and output.
func runProcess(_ executable: String, _ args: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // stdout first, then stderr: fine for the few lines of a --quiet run.
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// A small synthetic MNIST folder (gzip'd IDX files) in a new temporary directory.
func writeSyntheticMNIST(train: Int, test: Int) throws -> String {
    let dir = try temporaryDirectory()
    func gz(_ bytes: [UInt8], _ name: String) {
        let f = gzopen("\(dir)/\(name).gz", "wb")
        _ = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
        gzclose(f)
    }
    let (ti, tl) = syntheticDigits(count: train, seed: 1)
    let (vi, vl) = syntheticDigits(count: test, seed: 2)
    gz(idxBytes(dims: [train, 28, 28], payload: ti), MNIST.files.trainImages)
    gz(idxBytes(dims: [train], payload: tl), MNIST.files.trainLabels)
    gz(idxBytes(dims: [test, 28, 28], payload: vi), MNIST.files.testImages)
    gz(idxBytes(dims: [test], payload: vl), MNIST.files.testLabels)
    return dir
}

/// How a child's standard output or error is set up.
enum StreamSetup { case capture, closed, full, brokenPipe }

/// Runs `executable` with its standard output and error set up as asked: captured (into
/// files, so a long output cannot block the child), closed (`>&-`), /dev/full, or a pipe
/// whose reading end is already closed (every write fails with EPIPE, or raises SIGPIPE).
/// `shellPrefix` runs in the shell before the program replaces it (`ulimit -v N;`,
/// `trap '' PIPE;`). A status of 128 + n means the program died of signal n.
func runRedirected(
    _ executable: String, _ args: [String], stdout: StreamSetup = .capture, stderr: StreamSetup = .capture,
    shellPrefix: String = ""
) throws -> ProcessResult {
    var redirections = ""
    if stdout == .closed { redirections += " >&-" }
    if stdout == .full { redirections += " >/dev/full" }
    if stderr == .closed { redirections += " 2>&-" }
    if stderr == .full { redirections += " 2>/dev/full" }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", shellPrefix + " exec \"$0\" \"$@\"" + redirections, executable] + args
    let dir = try temporaryDirectory()
    func handle(_ setup: StreamSetup, _ name: String) throws -> FileHandle {
        if setup == .brokenPipe {
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            close(fds[0])
            return FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        }
        _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: nil)
        return try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/" + name))
    }
    let out = try handle(stdout, "out"), err = try handle(stderr, "err")
    p.standardOutput = out
    p.standardError = err
    try p.run()
    try? out.close()
    try? err.close()
    p.waitUntilExit()
    let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    func text(_ name: String) -> String { (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "" }
    return ProcessResult(status: status, stdout: text("out"), stderr: text("err"))
}
