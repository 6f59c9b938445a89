import Foundation

func fileExists(_ path: String, isDirectory: inout Bool) -> Bool {
    var d: ObjCBool = false
    let ok = FileManager.default.fileExists(atPath: path, isDirectory: &d)
    isDirectory = d.boolValue
    return ok
}

/// Writes `data` so that a reader sees either the old complete file or the new complete file:
/// a temporary file in the same folder, fsync, rename, fsync of the folder.
public func writeFileAtomically(_ data: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw PatchRNNError.file(path, "cannot write (\(String(cString: strerror(errno))))") }
    var offset = 0
    while offset < data.count {
        let n = data[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n <= 0 {
            let e = String(cString: strerror(errno))
            close(fd); unlink(tmp)
            throw PatchRNNError.file(path, "write failed (\(e))")
        }
        offset += n
    }
    if fsync(fd) != 0 || close(fd) != 0 {
        unlink(tmp)
        throw PatchRNNError.file(path, "could not flush to disk")
    }
    guard rename(tmp, path) == 0 else {
        let e = String(cString: strerror(errno))
        unlink(tmp)
        throw PatchRNNError.file(path, "rename failed (\(e))")
    }
    let dfd = open(dir, O_RDONLY)
    if dfd >= 0 { fsync(dfd); close(dfd) }
}

public func writeFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Array(text.utf8), to: path)
}

/// Creates `dir` if needed and checks that a file can be created in it, so that a bad
/// --out fails before training starts rather than after an hour.
public func prepareOutputDirectory(_ dir: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    } catch {
        throw PatchRNNError.file(dir, "cannot create output folder (\(error.localizedDescription))")
    }
    let probe = dir + "/.patchrnn-write-check-\(getpid())"
    let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw PatchRNNError.file(dir, "output folder is not writable (\(String(cString: strerror(errno))))") }
    close(fd)
    unlink(probe)
}
