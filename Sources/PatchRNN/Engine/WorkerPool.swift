import CSync
import Foundation

/// Long-lived worker threads, each pinned to one PU before it allocates anything.
///
/// The calling (coordinator) thread is worker 0: on a machine with N cores, N threads do the
/// work and none sits idle waiting. `run` hands every worker the same job (its index decides
/// its share) and returns when all have finished. Hand-off is a generation counter the workers
/// spin on for a while and then sleep on with a futex; the coordinator wakes sleepers only
/// when there are any, so a busy training loop never enters the kernel (blocking primitives
/// cost 22-47 us per hand-off on the VMs this was measured on, a spin 0.05-0.1 us; see
/// docs/performance-notes.md). A pool with more workers than the CPUs it may run on (an
/// oversubscribed one, for checking results and plans) spins only briefly: there a spinning
/// worker holds a CPU that the worker it waits for needs.
public final class WorkerPool: @unchecked Sendable {
    // @unchecked Sendable: `job` is written by the coordinator only while every worker is
    // parked (before the generation bump, a sequentially consistent atomic that the workers
    // read before touching it); `errors` and `bound` are PerWorker slots, written by worker i
    // only in slot i and read by the coordinator after the done counter (also atomic) says all
    // have finished.

    public let count: Int
    /// The PU each worker asked for (nil: unpinned).
    public let placement: [Int?]
    /// The PU each worker reported after binding, read back from hwloc (nil: not bound).
    public var boundPUs: [Int?] { bound.values }
    public private(set) var bindingWarning: String?
    /// More workers than the CPUs the process may run on: results are right, speed is not.
    public let isOversubscribed: Bool

    private let topology: Topology?
    private var callerBinding: Topology.SavedBinding?
    // Separate cache lines: [0] generation, [16] done count, [32] sleepers, [48] the next
    // item of `forEachItem`.
    private let sync: UnsafeMutablePointer<UInt32>
    private var generation: UnsafeMutablePointer<UInt32> { sync }
    private var done: UnsafeMutablePointer<UInt32> { sync + 16 }
    private var sleepers: UnsafeMutablePointer<UInt32> { sync + 32 }
    private var itemCounter: UnsafeMutablePointer<UInt32> { sync + 48 }
    private var job: ((Int) throws -> Void)?
    private let errors: PerWorker<Error>
    private let bound: PerWorker<Int>
    private var shuttingDown = false
    /// Time the coordinator spent waiting for the other workers to finish their share (load
    /// imbalance plus hand-off), summed over all `run` calls.
    public var waitSeconds = 0.0
    private var threads: [pthread_t] = []
    /// Pause instructions a waiting thread spins through before it sleeps (workers) or yields
    /// (the coordinator): about 1-3 ms with one worker per CPU, so that no hand-off of a busy
    /// training loop enters the kernel; a few microseconds when oversubscribed.
    private let spinIterations: Int
    static let spinIterationsPerCPU = 20_000, spinIterationsOversubscribed = 50

    /// Starts the worker threads, each bound to its PU.
    /// - Parameters:
    ///   - placement: Worker i's PU (an OS index), nil for no binding; worker 0 is the caller.
    ///   - topology: Does the binding (nil: no worker is bound).
    /// - Throws: `PatchRNNError` when the system will not start a thread (e.g. a low `ulimit -u`).
    public init(placement: [Int?], topology: Topology?) throws {
        guard !placement.isEmpty else { throw PatchRNNError.setting(.threads, "must be at least 1 (got 0)") }
        count = placement.count
        self.placement = placement
        self.topology = topology
        isOversubscribed = placement.count > Self.availableCPUs
        spinIterations = isOversubscribed ? Self.spinIterationsOversubscribed : Self.spinIterationsPerCPU
        bound = PerWorker(count: placement.count)
        errors = PerWorker(count: placement.count)
        sync = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
        sync.initialize(repeating: 0, count: 64)
        for i in 1..<count {
            let rc = spawn(i)
            if rc != 0 {
                stopThreads()
                throw PatchRNNError(
                    "cannot start worker thread \(i + 1) of \(count): \(String(cString: strerror(rc))) (too little memory for its stack, or too many threads: see ulimit -v and ulimit -u)"
                )
            }
        }
        // The caller is worker 0; it gets its old binding back when the pool goes, so that
        // what it runs (or starts) afterwards is not confined to one core.
        if placement[0] != nil { callerBinding = topology?.saveCallerBinding() }
        bindSelf(0)
        // Wait until every worker has bound itself, so that boundPUs is final.
        try run { _ in }
        let boundPUs = self.boundPUs
        let refused = placement.indices.filter { placement[$0] != nil && boundPUs[$0] != placement[$0] }
        if !refused.isEmpty {
            bindingWarning =
                "warning: the system refused to pin \(refused.count) of \(count) worker thread(s) to their cores; running unpinned"
        }
    }

    /// A pool of `threads` workers placed by `topology` (`PlacementPlan`: one per physical
    /// core, `policy` when there are more cores than workers), on the PUs `cores` names, or
    /// unpinned when hwloc cannot load. `oversubscribe` allows more workers than cores (up to
    /// `maxUnpinnedThreads`), all unpinned: for checking results and placement plans on a
    /// small machine; speed figures from such a pool mean nothing.
    /// - Parameters:
    ///   - threads: The number of workers.
    ///   - topology: This machine's (`Topology()`), or nil to run unpinned.
    ///   - cores: The PUs to pin the workers to, one per worker, instead of the plan's.
    ///   - smt: Allow SMT siblings once every physical core has a worker.
    ///   - policy: Pack or spread when there are more cores than workers.
    ///   - oversubscribe: Allow more workers than cores, all unpinned.
    /// - Returns: The started pool.
    /// - Throws: `PatchRNNError` for an impossible request (more workers than cores, a PU that
    ///   does not exist) or when a thread cannot start.
    public static func make(
        threads: Int, topology: Topology?, cores: [Int]? = nil, smt: Bool = false,
        policy: PlacementPolicy = .pack, oversubscribe: Bool = false
    ) throws -> WorkerPool {
        guard threads >= 1 else { throw PatchRNNError.setting(.threads, "must be at least 1 (got \(threads))") }
        if let topology, !topology.isThisMachine {
            throw PatchRNNError("a topology read from a description or an XML file is for planning only; workers run on this machine's own")
        }
        guard let topology, !oversubscribe else {
            guard !oversubscribe || cores == nil else {
                throw PatchRNNError.setting(.cores, "pins workers, which --oversubscribe does not; give one or the other")
            }
            guard threads <= maxUnpinnedThreads else {
                throw PatchRNNError.setting(.threads, "must be at most \(maxUnpinnedThreads) for unpinned workers (got \(threads))")
            }
            return try WorkerPool(placement: Array(repeating: nil, count: threads), topology: nil)
        }
        let pus: [Int]
        if let cores {
            guard cores.count == threads else {
                throw PatchRNNError.setting(.cores, "names \(cores.count) PUs but \(threads) threads were asked for")
            }
            pus = try topology.validate(cores: cores)
        } else {
            pus = try topology.placement(workers: threads, smt: smt, policy: policy)
        }
        return try WorkerPool(placement: pus, topology: topology)
    }

    /// The CPUs the calling thread may run on (its affinity: what taskset, mpirun or a cgroup
    /// left it).
    public static var availableCPUs: Int { Int(csync_available_cpus()) }

    /// The most workers `make` starts unpinned (`oversubscribe`, or no hwloc).
    public static let maxUnpinnedThreads = 4096

    deinit {
        stopThreads()
        if let callerBinding { topology?.restore(callerBinding) }
        sync.deallocate()
    }

    /// Ends and joins every worker thread started so far.
    private func stopThreads() {
        shuttingDown = true
        csync_fetch_add(generation, 1)
        csync_futex_wake_all(generation)
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    /// Runs `body(workerIndex)` on every worker (the caller is worker 0) and waits for all.
    /// The first error any worker threw is rethrown after all have finished. `body` does not
    /// escape (the workers are done with it before this returns), so its captures stay on the
    /// caller's stack: a training step allocates nothing for its hand-offs.
    public func run(_ body: (Int) throws -> Void) throws {
        try withoutActuallyEscaping(body) { try runJob($0) }
    }

    private func runJob(_ body: @escaping (Int) throws -> Void) throws {
        job = body
        defer { job = nil }
        for i in 0..<count { errors[i] = nil }
        csync_fetch_add(generation, 1)
        if csync_load(sleepers) > 0 { csync_futex_wake_all(generation) }
        do { try body(0) } catch { errors[0] = error }
        let waitStart = monotonicSeconds()
        let others = UInt32(count - 1)
        var spins = 0
        while csync_load(done) != others {
            if spins < spinIterations {
                csync_pause()
                spins += 1
            } else {
                sched_yield()
            }
        }
        csync_store(done, 0)
        waitSeconds += monotonicSeconds() - waitStart
        for i in 0..<count { if let e = errors[i] { throw e } }
    }

    /// Hands items 0..<count to the workers through a shared queue (`WorkQueue`): a worker
    /// that gets at least one item first calls `start(worker)` (e.g. packs its weights), then
    /// `body(worker, item)` for each item it takes. Returns when all items are done.
    public func forEachItem(
        _ count: Int, start: (Int) -> Void = { _ in },
        _ body: (_ worker: Int, _ item: Int) throws -> Void
    ) throws {
        // The pool's own counter, reset here; `run` publishes it to the workers.
        precondition(count < Int(UInt32.max))
        let next = itemCounter
        csync_store(next, 0)
        func take() -> Int? {
            let i = Int(csync_fetch_add(next, 1))
            return i < count ? i : nil
        }
        try run { w in
            guard var item = take() else { return }
            start(w)
            while true {
                try body(w, item)
                guard let following = take() else { return }
                item = following
            }
        }
    }

    /// Hands out work items 0..<count to whichever worker asks first: a worker on a core that
    /// is running slow (a shared VM, a busy sibling) simply takes fewer. Results do not
    /// depend on who takes what as long as each item writes only its own output.
    public final class WorkQueue: @unchecked Sendable {
        private let next: UnsafeMutablePointer<UInt32>
        public let count: Int
        public init(count: Int) {
            precondition(count < Int(UInt32.max))
            self.count = count
            next = .allocate(capacity: 16)  // a cache line of its own
            next.initialize(repeating: 0, count: 16)
        }
        deinit { next.deallocate() }
        /// The next unclaimed item, or nil when all are taken.
        @inline(__always) public func take() -> Int? {
            let i = Int(csync_fetch_add(next, 1))
            return i < count ? i : nil
        }
    }

    private func bindSelf(_ i: Int) {
        guard let pu = placement[i], let topology else { return }
        if topology.bindCurrentThread(toPU: pu) { bound[i] = topology.boundPU() }
    }

    private func workerLoop(_ i: Int) {
        bindSelf(i)
        var seen: UInt32 = 0
        while true {
            var spins = 0
            while csync_load(generation) == seen {
                if spins < spinIterations {
                    csync_pause()
                    spins += 1
                } else {
                    csync_fetch_add(sleepers, 1)
                    if csync_load(generation) == seen { csync_futex_wait(generation, seen) }
                    csync_fetch_sub(sleepers, 1)
                }
            }
            seen = csync_load(generation)
            if shuttingDown { return }
            do { try job?(i) } catch { errors[i] = error }
            csync_fetch_add(done, 1)
        }
    }

    /// Starts worker i's thread; returns pthread_create's status (0: started).
    private func spawn(_ i: Int) -> Int32 {
        // The thread must not own the pool: deinit is what stops the threads, so a strong
        // reference held by a thread would keep the pool (and its threads) alive for ever.
        final class Start {
            let pool: Unmanaged<WorkerPool>, index: Int
            init(_ p: WorkerPool, _ i: Int) {
                pool = .passUnretained(p)
                index = i
            }
        }
        let context = Unmanaged.passRetained(Start(self, i)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
                // The pool outlives its threads (deinit joins them), so an unretained call is safe.
                start.pool._withUnsafeGuaranteedRef { [index = start.index] in $0.workerLoop(index) }
                return nil
            }, context)
        if rc == 0 { threads.append(tid) } else { Unmanaged<AnyObject>.fromOpaque(context).release() }
        return rc
    }
}
