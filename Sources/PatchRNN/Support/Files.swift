import Foundation

func fileExists(_ path: String, isDirectory: inout Bool) -> Bool {
    var d: ObjCBool = false
    let ok = FileManager.default.fileExists(atPath: path, isDirectory: &d)
    isDirectory = d.boolValue
    return ok
}

/// Writes `data` so that a reader sees either the old complete file or the new complete file:
/// a temporary file in the same folder, fsync, rename, fsync of the folder.
///
/// The temporary file (`.NAME.tmp-PID`, or `.NAME.tmp-PID.N` when that name is taken) is
/// created with O_CREAT | O_EXCL | O_NOFOLLOW and mode 0600: a file or symbolic link someone
/// planted under that name in a shared folder is never opened, let alone written through, and
/// no one else can read the file until it is complete. It gets the usual mode (0644 less the
/// umask) just before it is renamed into place.
package func writeFileAtomically(_ data: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    let (fd, tmp) = try createTemporaryFile(forWriting: path, in: dir, name: url.lastPathComponent)
    var offset = 0
    while offset < data.count {
        let n = data[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
            let e = n < 0 ? systemError() : "nothing written"
            close(fd)
            unlink(tmp)
            throw PatchRNNError.file(path, "write failed (\(e)); the previous file, if any, is unchanged")
        }
        offset += n
    }
    let synced = fsync(fd) == 0 ? 0 : errno
    let mask = umask(0o022)
    umask(mask)
    _ = fchmod(fd, 0o644 & ~mask)
    if close(fd) != 0 || synced != 0 {
        let e = systemError(synced != 0 ? synced : errno)
        unlink(tmp)
        throw PatchRNNError.file(path, "could not flush to disk (\(e)); the previous file, if any, is unchanged")
    }
    guard rename(tmp, path) == 0 else {
        let e = systemError()
        unlink(tmp)
        throw PatchRNNError.file(path, "rename failed (\(e))")
    }
    let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 {
        fsync(dfd)
        close(dfd)
    }
}

/// A new temporary file for `path`, created exclusively (see `writeFileAtomically`).
func createTemporaryFile(forWriting path: String, in dir: String, name: String) throws -> (fd: Int32, path: String) {
    let stem = dir + "/." + name + ".tmp-\(getpid())"
    for attempt in 0..<100 {
        let tmp = attempt == 0 ? stem : stem + ".\(attempt)"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 { return (fd, tmp) }
        if errno != EEXIST { break }  // taken (a planted file or link, a leftover): try the next name
    }
    throw PatchRNNError.file(path, "cannot write (\(systemError()))")
}

package func writeFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Array(text.utf8), to: path)
}

/// The operating system's words for errno.
func systemError(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Creates `dir` and its parents where missing (mkdir -p); the errno of the first failure.
func makeDirectories(_ dir: String) -> Int32? {
    var isDir = false
    if fileExists(dir, isDirectory: &isDir) { return isDir ? nil : ENOTDIR }
    let parent = (dir as NSString).deletingLastPathComponent
    if !parent.isEmpty && parent != dir, let failure = makeDirectories(parent) { return failure }
    return mkdir(dir, 0o755) != 0 && errno != EEXIST ? errno : nil
}

/// Creates `dir` if needed and checks that a file can be created in it, so that a bad
/// --out (or --tensorboard: `what` names the folder in the message) fails before training
/// starts rather than after an hour.
package func prepareOutputDirectory(_ dir: String, what: String = "output folder") throws {
    var isDir = false
    if fileExists(dir, isDirectory: &isDir), !isDir {
        throw PatchRNNError.file(dir, "cannot create \(what) (a file of that name exists)")
    }
    if let failure = makeDirectories(dir) {
        throw PatchRNNError.file(dir, "cannot create \(what) (\(systemError(failure)))")
    }
    let probe = dir + "/.patchrnn-write-check-\(getpid())"
    // Exclusive and not through a link, as every file the tool creates: a planted link is
    // never followed. (A leftover of a dead process of the same pid: removed first.)
    var fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    if fd < 0 && errno == EEXIST && unlink(probe) == 0 { fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
    guard fd >= 0 else { throw PatchRNNError.file(dir, "\(what) is not writable (\(systemError()))") }
    close(fd)
    unlink(probe)
}

/// The whole content of a regular file of at most `limit` bytes, read with POSIX calls so that
/// a device (/dev/zero), a folder or a file too large for what it should be ends in an error
/// naming the path, in the system's words.
package func readFileContents(_ path: String, limit: Int, what: String) throws -> [UInt8] {
    // O_NONBLOCK: a FIFO must not block the open before it is found not to be a file.
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw PatchRNNError.file(path, errno == ENOENT ? "no such \(what)" : "cannot open (\(systemError()))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw PatchRNNError.file(path, "cannot read (\(systemError()))") }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw PatchRNNError.file(path, "is a directory, expected a \(what)") }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw PatchRNNError.file(path, "is not a regular file, expected a \(what)") }
    let size = Int(st.st_size)
    guard size <= limit else { throw PatchRNNError.file(path, "is \(size) bytes, more than a \(what) of this tool can be (\(limit))") }
    Memory.checkAvailable(bytes: size, for: "reading \(path)")
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            throw PatchRNNError.file(path, n == 0 ? "shorter than its size (changed while read?)" : "read failed (\(systemError()))")
        }
        done += n
    }
    return bytes
}
