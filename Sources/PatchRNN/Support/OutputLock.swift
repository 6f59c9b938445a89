import Foundation

/// An advisory lock on an output folder (flock on `DIR/.patchrnn.lock`): a second run into the
/// same folder is refused at once, naming the first; the kernel releases the lock when the
/// holder ends, however it ends (kill -9 included), so a dead run never blocks the next one.
/// Taking the lock also removes the temporary files a killed run left behind there.
public final class OutputLock {
    public let directory: String
    private let fd: Int32
    public static let fileName = ".patchrnn.lock"

    public init(claiming directory: String) throws {
        try prepareOutputDirectory(directory)
        self.directory = directory
        let path = directory + "/" + Self.fileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PatchRNNError.file(path, "cannot open the folder's lock file (\(systemError()))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var text = [UInt8](repeating: 0, count: 256)
            let n = read(fd, &text, text.count)
            close(fd)
            guard code == EWOULDBLOCK else { throw PatchRNNError.file(path, "cannot lock (\(systemError(code)))") }
            let holder = n > 0 ? String(decoding: text[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "another process"
            throw PatchRNNError.file(directory, "another patchrnn run is writing to this folder (\(holder)); wait for it to end or choose another --out")
        }
        let me = "pid \(getpid()): \(CommandLine.arguments.joined(separator: " "))\n"
        _ = ftruncate(fd, 0)
        _ = me.withCString { pwrite(fd, $0, strlen($0), 0) }
        removeStaleTemporaryFiles()
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// `.<name>.tmp-<pid>` (atomic writes) and `.patchrnn-write-check-<pid>` files of
    /// processes that no longer exist.
    private func removeStaleTemporaryFiles() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".") {
            let pidText: Substring
            if let r = name.range(of: ".tmp-", options: .backwards) {
                pidText = name[r.upperBound...]
            } else if name.hasPrefix(".patchrnn-write-check-") {
                pidText = name.dropFirst(".patchrnn-write-check-".count)
            } else {
                continue
            }
            guard let pid = Int32(pidText), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(directory + "/" + name)
        }
    }
}
