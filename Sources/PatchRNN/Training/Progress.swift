import Foundation

/// Progress output: a live line on a terminal (redrawn in place), Keras-like epoch lines, and
/// nothing at all with --quiet. Everything goes to standard error so that --json output on
/// standard output stays clean; a standard error that is closed, full or a broken pipe only
/// loses the lines (`StandardStreams.error`), never the run.
public final class ProgressReporter: @unchecked Sendable {
    public enum Mode: Sendable { case live, lines, quiet }
    public let mode: Mode
    private var lastDraw = 0.0
    private var drawn = false

    /// - Parameter quiet: Print nothing; otherwise a live line on a terminal, whole lines elsewhere.
    public init(quiet: Bool) {
        if quiet { mode = .quiet } else { mode = isatty(STDERR_FILENO) != 0 ? .live : .lines }
    }

    public func info(_ line: String) {
        guard mode != .quiet else { return }
        clearLive()
        StandardStreams.error(line + "\n")
    }

    /// Called after every step; redraws at most 10 times a second.
    public func step(epoch: Int, epochs: Int, done: Int, total: Int, loss: Double, samplesPerSecond: Double, elapsed: Double) {
        guard mode == .live else { return }
        let now = monotonicSeconds()
        guard now - lastDraw >= 0.1 || done == total else { return }
        lastDraw = now
        let width = 24
        let filled = total > 0 ? width * done / total : 0
        let bar =
            String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let line =
            "Epoch \(epoch)/\(epochs) [\(bar)] \(done)/\(total) - loss: \(fmt(loss, 5)) - \(Int(samplesPerSecond)) samples/s - ETA \(duration(eta))"
        StandardStreams.error("\r\u{1B}[K" + line)
        drawn = true
    }

    private func clearLive() {
        if drawn {
            StandardStreams.error("\r\u{1B}[K")
            drawn = false
        }
    }
}
