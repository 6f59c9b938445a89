import Foundation

/// The processes one training run is spread over: a single process, or the ranks of an MPI
/// job (`MPIProcessGroup`, in builds with the MPI trait). Every rank runs the threaded engine
/// on the shards of each minibatch it owns (see `ShardSlots`); the collectives below are all
/// the ranks need to agree on, so every rank ends each step with the same weights.
public protocol ProcessGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// The host this rank runs on (for logs and `patchrnn topology`).
    var host: String { get }

    /// Gathers the per-shard gradients and losses of a minibatch: rank r computed shards
    /// `shardsOf[r]` into their own slots of `grads` (stride floats apart) and `losses`; after
    /// the call every rank holds all of them, bit for bit as computed.
    func allGatherShards(
        grads: UnsafeMutablePointer<Float>, stride: Int, losses: UnsafeMutablePointer<Double>,
        shardsOf: [Range<Int>]) throws

    /// Sums `count` floats and one double over the ranks, in place (MPI_Allreduce: the order
    /// of the additions is the MPI library's, not ours).
    func allReduceSum(_ floats: UnsafeMutablePointer<Float>, count: Int, _ value: inout Double) throws

    /// Copies `count` doubles from rank `root` to every rank.
    func broadcast(_ values: UnsafeMutablePointer<Double>, count: Int, root: Int) throws

    /// The largest of every rank's `value` (used to agree on a stop signal after a step).
    func maximum(_ value: Int32) throws -> Int32

    /// Every rank's `text`, in rank order, on rank 0 (nil on the others).
    func gather(_ text: String) throws -> [String]?

    /// Waits until every rank has arrived.
    func barrier() throws

    /// Ends every rank of the job at once (after one rank failed), with `code`.
    func abort(code: Int32) -> Never

    /// Leaves the group cleanly at the end of a run.
    func finish()
}

extension ProcessGroup {
    public var isRoot: Bool { rank == 0 }
    /// "rank 1/2 on host" for logs; empty for a single process.
    public var label: String { size > 1 ? "rank \(rank)/\(size) on \(host)" : "" }
}

/// One process: every collective is a no-op.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var host: String { ProcessInfo.processInfo.hostName }
    public func allGatherShards(
        grads: UnsafeMutablePointer<Float>, stride: Int, losses: UnsafeMutablePointer<Double>,
        shardsOf: [Range<Int>]
    ) {}
    public func allReduceSum(_ floats: UnsafeMutablePointer<Float>, count: Int, _ value: inout Double) {}
    public func broadcast(_ values: UnsafeMutablePointer<Double>, count: Int, root: Int) {}
    public func maximum(_ value: Int32) -> Int32 { value }
    public func gather(_ text: String) -> [String]? { [text] }
    public func barrier() {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func finish() {}
}

/// How the ranks of an MPI job combine their gradients each step.
public enum GradientExchange: String, Sendable, CaseIterable {
    /// Every rank receives every shard's gradient (MPI_Allgatherv) and sums them in shard
    /// order: the same weights, bit for bit, as one process with any thread count. Each rank
    /// receives (shards - its shards) x 256 KiB per step, so the traffic grows with the batch.
    case exact
    /// Each rank sums its own shards (in shard order) and MPI_Allreduce sums the ranks'
    /// partial sums: about 2 x 256 KiB per rank per step whatever the batch, but the order of
    /// that last sum is Open MPI's, so the weights differ in the last bits from a run split
    /// another way (repeatable for the same ranks x slots layout with the same MPI library).
    case allreduce
}
