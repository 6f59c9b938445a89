/// Every failure the user can cause ends as one of these: one line, naming the file or option
/// and what is wrong. The command-line tool prints `error: <description>` and exits non-zero.
public struct PatchRNNError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }

    public static func file(_ path: String, _ problem: String) -> PatchRNNError {
        PatchRNNError("\(path): \(problem)")
    }
}
