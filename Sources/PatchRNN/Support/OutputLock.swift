import Foundation

/// An advisory lock on an output folder (flock on `DIR/.patchrnn.lock`): a second run into the
/// same folder is refused at once, naming the first; the kernel releases the lock when the
/// holder ends, however it ends (kill -9 included), so a dead run never blocks the next one.
/// Taking the lock also removes the temporary files a killed run left behind there.
package final class OutputLock {
    package let directory: String
    private let fd: Int32
    /// Set when the folder's file system cannot lock (NFS without lockd, some cluster and FUSE
    /// file systems): the run goes on unlocked, and the tool says so.
    package private(set) var warning: String?
    package static let fileName = ".patchrnn.lock"

    package init(claiming directory: String) throws {
        try prepareOutputDirectory(directory)
        self.directory = directory
        let path = directory + "/" + Self.fileName
        // Read-only is enough to lock: another user's lock file in a shared folder still works.
        var descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if descriptor < 0 && errno == EACCES { descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard descriptor >= 0 else { throw PatchRNNError.file(path, "cannot open the folder's lock file (\(systemError()))") }
        fd = descriptor
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == ENOLCK || code == ENOSYS || code == EOPNOTSUPP || code == EINVAL {
                warning =
                    "warning: \(directory): this file system cannot lock (\(systemError(code))); two runs into this folder would not be stopped"
                return
            }
            var text = [UInt8](repeating: 0, count: 256)
            let n = pread(fd, &text, text.count, 0)
            close(fd)
            guard code == EWOULDBLOCK else { throw PatchRNNError.file(path, "cannot lock (\(systemError(code)))") }
            let holder =
                n > 0 ? String(decoding: text[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "another process"
            throw PatchRNNError.file(
                directory, "another patchrnn run is writing to this folder (\(holder)); wait for it to end or choose another --out")
        }
        let me = "pid \(getpid()): \(CommandLine.arguments.joined(separator: " "))\n"
        if ftruncate(fd, 0) == 0 { _ = me.withCString { pwrite(fd, $0, strlen($0), 0) } }
        removeStaleTemporaryFiles()
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// The temporary files of the tool's own outputs (`.<output>.tmp-<pid>[.n]`, atomic writes)
    /// and write checks (`.patchrnn-write-check-<pid>`) of processes that no longer exist;
    /// other programs' files are left alone.
    private func removeStaleTemporaryFiles() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let prefixes = OutputFiles.all.map { "." + $0 + ".tmp-" } + [".patchrnn-write-check-"]
        for name in names {
            guard let prefix = prefixes.first(where: { name.hasPrefix($0) }) else { continue }
            // `.NAME.tmp-PID` or `.NAME.tmp-PID.N` (see `writeFileAtomically`).
            let parts = name.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 1 || (parts.count == 2 && UInt(parts[1]) != nil) else { continue }
            guard let pid = Int32(parts[0]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(directory + "/" + name)
        }
    }
}
