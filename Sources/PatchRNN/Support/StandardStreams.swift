import Foundation

/// Standard output and standard error, written with write(2) so that a failed write is a
/// value the tool decides about, never a trap (Foundation's `FileHandle.write` traps when the
/// stream is closed, full or a broken pipe).
///
/// The rule: standard error carries progress, warnings and messages, and a failure to write
/// there is ignored (training goes on; a lost progress line costs nothing). Standard output
/// carries the results (`evaluate --json`, the summaries), and a failure to write there is an
/// error with a non-zero exit status.
package enum StandardStreams {
    /// Whether standard output was closed when the process started (it is /dev/null since
    /// `prepare`, and results written to it are refused, not lost in silence).
    nonisolated(unsafe) private(set) static var outputWasClosed = false

    /// Call first thing in `main`:
    /// - a closed descriptor 0, 1 or 2 is reopened on /dev/null, so that no file the tool opens
    ///   later (a checkpoint being written, the folder's lock) gets the number 2 and receives
    ///   progress lines, or the number 1 and receives the results;
    /// - SIGPIPE is ignored, so that a reader that went away (`| head`, a closed log pipe)
    ///   makes a write fail with EPIPE, which is dropped (stderr) or reported (stdout), instead
    ///   of killing a training run.
    package static func prepare() {
        for fd: Int32 in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            if fd == STDOUT_FILENO { outputWasClosed = true }
            let null = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != fd {
                dup2(null, fd)
                close(null)
            }
        }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes `text` to standard error; gives up silently when that fails (closed, full, broken).
    package static func error(_ text: String) {
        _ = writeAll(STDERR_FILENO, text)
    }

    /// Writes `text` to standard output completely, or throws naming the system's reason.
    package static func output(_ text: String) throws {
        if outputWasClosed {
            throw PatchRNNError("standard output is closed: the results cannot be written")
        }
        if let code = writeAll(STDOUT_FILENO, text) {
            throw PatchRNNError("cannot write the results to standard output (\(systemError(code)))")
        }
    }

    /// The errno of the first failed write, or nil when every byte went out.
    private static func writeAll(_ fd: Int32, _ text: String) -> Int32? {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n < 0 ? errno : EIO }
            offset += n
        }
        return nil
    }
}
