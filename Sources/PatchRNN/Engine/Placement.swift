/// Where the workers go when fewer are asked for than there are cores.
///
/// `pack` (the default) fills one L3 group, then the other L3 groups of the same NUMA node,
/// then the other nodes of the same package, then the next package. `spread` deals the workers
/// round-robin over packages, then over the NUMA nodes of each, then over their L3 groups.
/// Why pack: a step's whole working set (weights, Adam's moments and 16-64 shard gradients of
/// 257.5 KiB: 5-17 MiB) fits in one socket's L3, and what the workers share every step (the
/// weights they all read, the shard gradients one writes and every reducer reads, the queue and
/// hand-off counters) stays in that L3 and on that node; spreading buys DRAM bandwidth the step
/// does not use and sends those lines across the socket link (docs/many-cores.md).
public enum PlacementPolicy: String, CaseIterable, Sendable, Codable {
    case pack, spread
}

/// Which PU each worker runs on, and which slice of the gradient sum and Adam it owns: a pure
/// function of the cores a topology offers (real, synthetic or read from XML). Nothing is
/// pinned here; `WorkerPool` pins.
///
/// Physical cores come first; SMT siblings (`smt`) only once every core has a worker. The
/// policy chooses which cores; the workers are then numbered in the machine's own order
/// (package, NUMA node, L3 group, core, sibling), so that consecutive workers, whose sum slices
/// are consecutive runs of the parameter vector (`SumSlices`), share a node.
public struct PlacementPlan: Sendable, Equatable {
    public struct Worker: Sendable, Equatable {
        /// The OS index of the PU it is pinned to.
        public let pu: Int
        public let core: Topology.Core
        /// Its slice of the padded parameter vector for the gradient sum and Adam.
        public let sumSlice: Range<Int>
    }

    public let policy: PlacementPolicy
    public let smt: Bool
    /// Floats of the padded parameter vector the slices divide.
    public let parameters: Int
    public let workers: [Worker]
    public var pus: [Int] { workers.map(\.pu) }

    /// The default model's padded parameter count (65,920 for the LSTM), the slices' default.
    public static let defaultParameters = ParameterLayout(.default).paddedCount

    /// Places `count` workers on `cores`. Fails when more are asked for than there are
    /// physical cores (or, with `smt`, hardware threads).
    public init(
        cores: [Topology.Core], workers count: Int, smt: Bool = false, policy: PlacementPolicy = .pack,
        parameters: Int = PlacementPlan.defaultParameters
    ) throws {
        guard count >= 1 else { throw PatchRNNError.setting(.threads, "must be at least 1 (got \(count))") }
        // (core, which of its PUs) in the order the policy takes them: every core's first PU,
        // then, with SMT, every core's second PU, and so on.
        let chosenOrder = Self.order(cores, policy)
        var candidates = chosenOrder.map { (core: $0, level: 0) }
        if smt {
            let maxSMT = cores.map(\.pus.count).max() ?? 1
            for level in 1..<max(maxSMT, 1) {
                candidates += chosenOrder.filter { level < $0.pus.count }.map { (core: $0, level: level) }
            }
        }
        guard count <= candidates.count else {
            let what = smt ? "hardware threads" : "physical cores (SMT siblings are used only when allowed)"
            throw PatchRNNError.setting(.threads, "\(count) is more than the \(candidates.count) \(what) this process may use")
        }
        let chosen = candidates.prefix(count).sorted { a, b in
            (a.core.package, a.core.numaNode, a.core.l3Group, a.core.index, a.level)
                < (b.core.package, b.core.numaNode, b.core.l3Group, b.core.index, b.level)
        }
        self.policy = policy
        self.smt = smt
        self.parameters = parameters
        workers = chosen.enumerated().map { w, c in
            Worker(pu: c.core.pus[c.level], core: c.core, sumSlice: SumSlices.range(worker: w, workers: count, count: parameters))
        }
    }

    /// All cores in the order `policy` takes them.
    static func order(_ cores: [Topology.Core], _ policy: PlacementPolicy) -> [Topology.Core] {
        let machineOrder = cores.sorted {
            ($0.package, $0.numaNode, $0.l3Group, $0.index) < ($1.package, $1.numaNode, $1.l3Group, $1.index)
        }
        switch policy {
        case .pack: return machineOrder
        case .spread: return roundRobin(machineOrder, levels: [\.package, \.numaNode, \.l3Group])
        }
    }

    /// Cores (in machine order) dealt round-robin over the groups of the first level, each
    /// group's own order being the same deal over the next levels.
    private static func roundRobin(_ cores: [Topology.Core], levels: ArraySlice<KeyPath<Topology.Core, Int>>) -> [Topology.Core] {
        guard let level = levels.first else { return cores }
        var groups: [[Topology.Core]] = []
        var previous: Int?
        for c in cores {  // machine order keeps each group's cores together
            if c[keyPath: level] != previous {
                groups.append([])
                previous = c[keyPath: level]
            }
            groups[groups.count - 1].append(c)
        }
        let dealt = groups.map { roundRobin($0, levels: levels.dropFirst()) }
        var result: [Topology.Core] = []
        for depth in 0..<(dealt.map(\.count).max() ?? 0) {
            for g in dealt where depth < g.count { result.append(g[depth]) }
        }
        return result
    }

    /// How many workers each package, NUMA node and L3 group of `machineCores` gets, in their
    /// logical order (groups with none included).
    public func workersPer(_ level: KeyPath<Topology.Core, Int>, of machineCores: [Topology.Core]) -> [Int] {
        let groups = Set(machineCores.map { $0[keyPath: level] }).sorted()
        return groups.map { g in workers.filter { $0.core[keyPath: level] == g }.count }
    }

    /// The part of the parameter vector each NUMA node's workers own, in node order: one
    /// contiguous run per node (the numbering guarantees it; the tests check it).
    public var sumRunsByNUMANode: [(node: Int, workers: Int, run: Range<Int>)] {
        var runs: [(node: Int, workers: Int, run: Range<Int>)] = []
        for w in workers {
            if let last = runs.last, last.node == w.core.numaNode, last.run.upperBound == w.sumSlice.lowerBound {
                runs[runs.count - 1] = (last.node, last.workers + 1, last.run.lowerBound..<w.sumSlice.upperBound)
            } else {
                runs.append((w.core.numaNode, 1, w.sumSlice))
            }
        }
        return runs
    }

    /// The plan as `patchrnn topology` prints it, for a machine whose cores are `machineCores`.
    public func summary(machineCores: [Topology.Core]) -> String {
        func counts(_ level: KeyPath<Topology.Core, Int>) -> String {
            workersPer(level, of: machineCores).map(String.init).joined(separator: ", ")
        }
        let siblings = smt ? "SMT siblings once every core has a worker" : "one worker per physical core (--smt adds SMT siblings)"
        var lines = [
            "placement for \(workers.count) worker(s), \(policy.rawValue), \(siblings): "
                + workers.enumerated().map { i, w in
                    "w\(i)->PU \(w.pu) (core \(w.core.index), package \(w.core.package), NUMA \(w.core.numaNode), L3 \(w.core.l3Group))"
                }.joined(separator: ", ")
        ]
        lines.append("workers per package: \(counts(\.package)); per NUMA node: \(counts(\.numaNode)); per L3 group: \(counts(\.l3Group))")
        let slices = workers.map(\.sumSlice.count)
        lines.append(
            "gradient sum + Adam over \(parameters) floats: \(slices.min() ?? 0)-\(slices.max() ?? 0) per worker; by NUMA node: "
                + sumRunsByNUMANode.map { "node \($0.node) \($0.run.lowerBound)..<\($0.run.upperBound) (\($0.workers) workers)" }.joined(
                    separator: ", "))
        return lines.joined(separator: "\n")
    }
}
