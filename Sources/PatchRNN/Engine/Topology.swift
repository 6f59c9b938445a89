import CHwloc
import Foundation

/// A machine as hwloc sees it: this one, or one described by an hwloc synthetic string or an
/// XML export (`lstopo machine.xml` on a real server), for planning where workers would go
/// there (`PlacementPlan`). Only this machine's topology can pin threads.
public final class Topology: @unchecked Sendable {
    /// Where the topology comes from.
    public enum Source: Sendable, Equatable {
        case thisMachine
        /// hwloc's synthetic description, e.g. "pack:2 [numa] l3:12 core:8 pu:2".
        case synthetic(String)
        /// An XML file exported by lstopo or hwloc.
        case xml(path: String)
    }

    /// One physical core: the PUs (hardware threads) it holds and the groups it belongs to.
    public struct Core: Sendable, Equatable {
        public let index: Int  // logical index among cores
        public let pus: [Int]  // OS indices of its PUs, first is the one used
        public let package: Int
        public let numaNode: Int
        public let l3Group: Int  // logical index of its L3 cache (-1: none)
        public let l2Group: Int
    }

    /// The physical cores this process may use (those with a PU in its CPU binding; under
    /// mpirun, the cores mpirun gave this rank), with only those PUs.
    public let cores: [Core]
    /// Every core of the machine, whether this process may use it or not.
    public let machineCores: [Core]
    public let packages: Int
    public let numaNodes: Int
    public let l3Groups: Int
    public let l2Groups: Int
    public let puCount: Int
    /// Whether this is the machine the process runs on (only then can threads be pinned).
    public let isThisMachine: Bool
    /// hwloc's handle; binding calls use it from any thread (hwloc allows concurrent reads).
    let handle: hwloc_topology_t

    /// Loads a topology through hwloc.
    /// - Parameter source: This machine, or a server described by hwloc's synthetic description
    ///   or an exported XML file (for planning only: nothing can be pinned there).
    /// - Throws: `PatchRNNError` when hwloc cannot load it.
    public init(_ source: Source = .thisMachine) throws {
        var topo: hwloc_topology_t?
        guard hwloc_topology_init(&topo) == 0, let t = topo else { throw PatchRNNError("hwloc: cannot initialise the topology") }
        switch source {
        case .thisMachine: break
        case .synthetic(let description):
            guard hwloc_topology_set_synthetic(t, description) == 0 else {
                hwloc_topology_destroy(t)
                throw PatchRNNError(
                    "hwloc cannot read the synthetic description '\(description)' (levels and counts such as \"pack:2 [numa] l3:12 core:8 pu:2\"; see hwloc's \"Synthetic topologies\")"
                )
            }
        case .xml(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                hwloc_topology_destroy(t)
                throw PatchRNNError.file(path, "cannot be read (no such file, or no permission)")
            }
            guard hwloc_topology_set_xml(t, path) == 0 else {
                hwloc_topology_destroy(t)
                throw PatchRNNError.file(path, "is not a topology hwloc can read (export one with lstopo FILE.xml)")
            }
        }
        guard hwloc_topology_load(t) == 0 else {
            hwloc_topology_destroy(t)
            if case .xml(let path) = source {
                throw PatchRNNError.file(path, "is not a topology hwloc can read (export one with lstopo FILE.xml)")
            }
            throw PatchRNNError("hwloc: cannot load the topology")
        }
        handle = t
        isThisMachine = hwloc_topology_is_thissystem(t) != 0
        func count(_ type: hwloc_obj_type_t) -> Int { Int(hwloc_get_nbobjs_by_type(t, type)) }
        packages = max(1, count(HWLOC_OBJ_PACKAGE))
        numaNodes = max(1, count(HWLOC_OBJ_NUMANODE))
        l3Groups = count(HWLOC_OBJ_L3CACHE)
        l2Groups = count(HWLOC_OBJ_L2CACHE)
        puCount = count(HWLOC_OBJ_PU)

        func containing(_ type: hwloc_obj_type_t, pu: UInt32) -> Int {
            for i in 0..<count(type) {
                if let o = hwloc_get_obj_by_type(t, type, UInt32(i)), hwloc_bitmap_isset(o.pointee.cpuset, pu) != 0 {
                    return Int(o.pointee.logical_index)
                }
            }
            return -1
        }
        var result: [Core] = []
        let nCores = count(HWLOC_OBJ_CORE)
        for i in 0..<nCores {
            guard let core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, UInt32(i)) else { continue }
            var pus: [Int] = []
            var pu = hwloc_bitmap_first(core.pointee.cpuset)
            while pu >= 0 {
                pus.append(Int(pu))
                pu = hwloc_bitmap_next(core.pointee.cpuset, pu)
            }
            guard let first = pus.first else { continue }
            result.append(
                Core(
                    index: i, pus: pus,
                    package: max(0, containing(HWLOC_OBJ_PACKAGE, pu: UInt32(first))),
                    numaNode: max(0, containing(HWLOC_OBJ_NUMANODE, pu: UInt32(first))),
                    l3Group: containing(HWLOC_OBJ_L3CACHE, pu: UInt32(first)),
                    l2Group: containing(HWLOC_OBJ_L2CACHE, pu: UInt32(first))))
        }
        if result.isEmpty {
            // Some virtual machines report PUs without cores: treat each PU as a core.
            for i in 0..<puCount {
                if let p = hwloc_get_obj_by_type(t, HWLOC_OBJ_PU, UInt32(i)) {
                    let os = p.pointee.os_index
                    result.append(
                        Core(
                            index: i, pus: [Int(os)], package: 0, numaNode: 0,
                            l3Group: containing(HWLOC_OBJ_L3CACHE, pu: os), l2Group: -1))
                }
            }
        }
        machineCores = result
        // A described machine has no process binding: every core is available.
        if isThisMachine, let binding = prnn_hwloc_process_binding(t) {
            defer { hwloc_bitmap_free(binding) }
            cores = result.compactMap { c in
                let pus = c.pus.filter { hwloc_bitmap_isset(binding, UInt32($0)) != 0 }
                return pus.isEmpty
                    ? nil
                    : Core(
                        index: c.index, pus: pus, package: c.package, numaNode: c.numaNode,
                        l3Group: c.l3Group, l2Group: c.l2Group)
            }
        } else {
            cores = result
        }
    }

    deinit { hwloc_topology_destroy(handle) }

    /// Where `workers` threads go on the cores this process may use (`PlacementPlan`).
    public func plan(
        workers: Int, smt: Bool = false, policy: PlacementPolicy = .pack,
        parameters: Int = PlacementPlan.defaultParameters
    ) throws -> PlacementPlan {
        try PlacementPlan(cores: cores, workers: workers, smt: smt, policy: policy, parameters: parameters)
    }

    /// PU OS indices for `workers` threads, worker by worker (`plan`).
    public func placement(workers: Int, smt: Bool = false, policy: PlacementPolicy = .pack) throws -> [Int] {
        try plan(workers: workers, smt: smt, policy: policy).pus
    }

    /// Checks explicit PU indices (--cores) against what this process may use.
    public func validate(cores pus: [Int]) throws -> [Int] {
        let allowed = Set(cores.flatMap { $0.pus })
        for p in pus where !allowed.contains(p) {
            throw PatchRNNError.setting(
                .cores,
                "names PU \(p), which is not one this process may use (allowed: \(allowed.sorted().map(String.init).joined(separator: ",")))"
            )
        }
        guard Set(pus).count == pus.count else { throw PatchRNNError.setting(.cores, "lists a PU twice") }
        return pus
    }

    /// Binds the calling thread to one PU. Returns false where the system refuses, and on a
    /// described machine.
    public func bindCurrentThread(toPU pu: Int) -> Bool {
        isThisMachine && prnn_hwloc_bind_thread_to_pu(handle, UInt32(pu)) == 0
    }

    /// The single PU the calling thread is bound to, read back from hwloc, or nil.
    public func boundPU() -> Int? {
        guard isThisMachine else { return nil }
        let p = prnn_hwloc_bound_pu(handle)
        return p >= 0 ? Int(p) : nil
    }

    public func core(ofPU pu: Int) -> Core? { cores.first { $0.pus.contains(pu) } }

    /// A thread's CPU binding as it was before a pool pinned it.
    final class SavedBinding {
        let set: hwloc_bitmap_t
        let thread: pthread_t
        init(set: hwloc_bitmap_t, thread: pthread_t) {
            self.set = set
            self.thread = thread
        }
        deinit { hwloc_bitmap_free(set) }
    }

    /// The calling thread's binding, for `restore` (nil when hwloc cannot read it).
    func saveCallerBinding() -> SavedBinding? {
        guard isThisMachine else { return nil }
        return prnn_hwloc_thread_binding(handle).map { SavedBinding(set: $0, thread: pthread_self()) }
    }

    /// Gives that thread its old binding back, from any thread.
    func restore(_ saved: SavedBinding) {
        _ = hwloc_set_thread_cpubind(handle, saved.thread, saved.set, 0)
    }

    /// hwloc's one-line synthetic description of the machine (its levels, counts and sizes),
    /// or nil where hwloc cannot write one (an asymmetric machine).
    public var syntheticDescription: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = hwloc_topology_export_synthetic(handle, &buffer, buffer.count, 0)
        guard length > 0, Int(length) < buffer.count else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes the topology as hwloc XML (what `--xml` reads back). Returns false on failure.
    func exportXML(to path: String) -> Bool {
        hwloc_topology_export_xml(handle, path, 0) == 0
    }

    /// The counts of the machine on one line.
    public var counts: String {
        "packages: \(packages)   NUMA nodes: \(numaNodes)   L3 groups: \(l3Groups)   L2 groups: \(l2Groups)   cores: \(machineCores.count)   PUs: \(puCount)"
    }

    /// Human-readable description of the machine.
    public var summary: String {
        var lines = [counts]
        for c in machineCores {
            let usable = cores.first { $0.index == c.index }
            let note = usable == nil ? "  (not in this process's CPU binding)" : ""
            lines.append(
                "  core \(c.index): PUs \(c.pus.map(String.init).joined(separator: ","))  package \(c.package)  NUMA \(c.numaNode)  L3 \(c.l3Group)  L2 \(c.l2Group)\(note)"
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// sched_getcpu(): the CPU the calling thread runs on now.
public func currentCPU() -> Int { Int(sched_getcpu()) }
