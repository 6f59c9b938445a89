import Foundation
import Testing

@testable import PatchRNN

/// The servers users run, as hwloc synthetic descriptions (PU numbering as Linux gives it:
/// every core's first hardware thread, package by package, then every core's second).
enum Servers {
    struct Server: Sendable, CustomStringConvertible {
        let name: String
        let synthetic: String
        let packages: Int, numaNodes: Int, l3Groups: Int, cores: Int, pusPerCore: Int
        var description: String { name }
    }
    /// A one-socket 16-core Xeon VM without SMT.
    static let xeonVM16 = Server(
        name: "16-core Xeon VM", synthetic: "pack:1 l3:1 core:16 pu:1",
        packages: 1, numaNodes: 1, l3Groups: 1, cores: 16, pusPerCore: 1)
    /// 2 x Xeon Platinum 8480+: 56 cores, SMT 2, one L3 per socket, sub-NUMA clustering SNC4.
    static let xeon8480 = Server(
        name: "2 x Xeon Platinum 8480+ SNC4",
        synthetic: "pack:2 l3:1(size=105MB) group:4 [numa] core:14 pu:2(indexes=2*56:112*2:1*2)",
        packages: 2, numaNodes: 8, l3Groups: 2, cores: 112, pusPerCore: 2)
    /// 2 x EPYC 9654: 96 cores in 12 L3 groups (CCDs) of 8, SMT 2, one NUMA node per socket.
    static let epyc9654NPS1 = Server(
        name: "2 x EPYC 9654 NPS1",
        synthetic: "pack:2 [numa] l3:12(size=32MB) core:8 pu:2(indexes=2*96:192*2:1*2)",
        packages: 2, numaNodes: 2, l3Groups: 24, cores: 192, pusPerCore: 2)
    /// The same in NPS4: four NUMA nodes per socket, three L3 groups each.
    static let epyc9654NPS4 = Server(
        name: "2 x EPYC 9654 NPS4",
        synthetic: "pack:2 numa:4 l3:3(size=32MB) core:8 pu:2(indexes=2*96:192*2:1*2)",
        packages: 2, numaNodes: 8, l3Groups: 24, cores: 192, pusPerCore: 2)
    static let all = [xeonVM16, xeon8480, epyc9654NPS1, epyc9654NPS4]
}

@Suite("Placement plans on server topologies (hwloc synthetic and XML)")
struct PlacementTests {
    typealias Core = Topology.Core

    @Test("hwloc builds each server from its description, with Linux's PU numbering", arguments: Servers.all)
    func serversAsDescribed(server: Servers.Server) throws {
        let t = try Topology(.synthetic(server.synthetic))
        #expect(!t.isThisMachine)
        #expect(t.packages == server.packages && t.numaNodes == server.numaNodes && t.l3Groups == server.l3Groups)
        #expect(t.cores.count == server.cores && t.machineCores.count == server.cores)
        #expect(t.puCount == server.cores * server.pusPerCore)
        for c in t.cores {
            // Core k (machine order) has PU k, and its sibling is PU k + cores.
            #expect(c.pus == (0..<server.pusPerCore).map { c.index + $0 * server.cores }, "core \(c.index): \(c.pus)")
        }
        let perNode = Dictionary(grouping: t.cores, by: \.numaNode).values.map(\.count)
        #expect(Set(perNode) == [server.cores / server.numaNodes])
    }

    /// The rules every plan keeps, whatever the machine, count and policy.
    func checkInvariants(_ plan: PlacementPlan, _ t: Topology, _ label: String) {
        let n = plan.workers.count
        #expect(Set(plan.pus).count == n, "\(label): a PU used twice")
        if !plan.smt || n <= t.cores.count {
            #expect(plan.workers.allSatisfy { $0.pu == $0.core.pus[0] }, "\(label): an SMT sibling before every core has a worker")
            #expect(Set(plan.workers.map(\.core.index)).count == n, "\(label): two workers on one core")
        }
        // Workers numbered in machine order, so their consecutive slices share a node.
        let keys = plan.workers.map { [$0.core.package, $0.core.numaNode, $0.core.l3Group, $0.core.index] }
        #expect(
            zip(keys, keys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) || $0 == $1 },
            "\(label): workers out of machine order")
        // The slices tile the parameter vector in worker order, balanced to one block.
        let bounds = plan.workers.map(\.sumSlice)
        #expect(bounds.first?.lowerBound == 0 && bounds.last?.upperBound == plan.parameters, "\(label): slices do not span the vector")
        #expect(
            zip(bounds, bounds.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(label): a gap or an overlap between slices")
        let sizes = plan.workers.map(\.sumSlice.count)
        #expect(sizes.max()! - sizes.min()! <= SumSlices.block, "\(label): unbalanced slices \(sizes.min()!)...\(sizes.max()!)")
        // One contiguous run of the vector per NUMA node.
        let nodes = plan.sumRunsByNUMANode.map(\.node)
        #expect(Set(nodes).count == nodes.count, "\(label): a node owns two separate runs")
    }

    @Test(
        "every count from 1 to all PUs, both policies: distinct cores first, then siblings; machine order; exact, balanced, node-contiguous slices",
        arguments: Servers.all)
    func invariants(server: Servers.Server) throws {
        let t = try Topology(.synthetic(server.synthetic))
        for policy in PlacementPolicy.allCases {
            for n in 1...t.puCount {
                let smt = n > t.cores.count
                checkInvariants(try t.plan(workers: n, smt: smt, policy: policy), t, "\(server) \(policy) \(n)")
            }
            #expect(throws: PatchRNNError.self) { try t.plan(workers: t.cores.count + 1, policy: policy) }
            #expect(throws: PatchRNNError.self) { try t.plan(workers: t.puCount + 1, smt: true, policy: policy) }
            #expect(throws: PatchRNNError.self) { try t.plan(workers: 0, policy: policy) }
        }
    }

    @Test("pack fills one L3 group, then its NUMA node, then its package, before the next", arguments: Servers.all)
    func packIsCompact(server: Servers.Server) throws {
        let t = try Topology(.synthetic(server.synthetic))
        let perL3 = server.cores / server.l3Groups, perNode = server.cores / server.numaNodes, perPackage = server.cores / server.packages
        for n in 1...t.cores.count {
            let plan = try t.plan(workers: n, policy: .pack)
            func used(_ level: KeyPath<Core, Int>) -> Int { plan.workersPer(level, of: t.machineCores).filter { $0 > 0 }.count }
            func ceil(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
            #expect(
                used(\.l3Group) == ceil(n, perL3) && used(\.numaNode) == ceil(n, perNode) && used(\.package) == ceil(n, perPackage),
                "\(server) pack \(n): L3 \(used(\.l3Group)), NUMA \(used(\.numaNode)), packages \(used(\.package))")
        }
    }

    @Test("spread deals the workers evenly over packages, then NUMA nodes, then L3 groups", arguments: Servers.all)
    func spreadIsEven(server: Servers.Server) throws {
        let t = try Topology(.synthetic(server.synthetic))
        for n in 1...t.cores.count {
            let plan = try t.plan(workers: n, policy: .spread)
            for level: KeyPath<Core, Int> in [\.package, \.numaNode, \.l3Group] {
                let counts = plan.workersPer(level, of: t.machineCores)
                #expect(counts.max()! - counts.min()! <= 1, "\(server) spread \(n): \(counts)")
            }
        }
    }

    @Test("the plans the docs quote")
    func documentedPlans() throws {
        let xeon = try Topology(.synthetic(Servers.xeon8480.synthetic))
        let x16 = try xeon.plan(workers: 16)
        #expect(x16.workersPer(\.numaNode, of: xeon.machineCores) == [14, 2, 0, 0, 0, 0, 0, 0])
        #expect(x16.pus == Array(0..<16))
        #expect(x16.sumRunsByNUMANode.map(\.workers) == [14, 2])
        let x16s = try xeon.plan(workers: 16, policy: .spread)
        #expect(x16s.workersPer(\.numaNode, of: xeon.machineCores) == [2, 2, 2, 2, 2, 2, 2, 2])
        // All 224 hardware threads: the siblings (PU k + 112) are numbered next to their cores.
        let xAll = try xeon.plan(workers: 224, smt: true)
        #expect(Array(xAll.pus.prefix(4)) == [0, 112, 1, 113])

        let nps1 = try Topology(.synthetic(Servers.epyc9654NPS1.synthetic))
        #expect(try nps1.plan(workers: 8).workersPer(\.l3Group, of: nps1.machineCores).prefix(2) == [8, 0])
        #expect(try nps1.plan(workers: 12).workersPer(\.l3Group, of: nps1.machineCores).prefix(3) == [8, 4, 0])
        let nps1Spread = try nps1.plan(workers: 12, policy: .spread)
        #expect(nps1Spread.workersPer(\.package, of: nps1.machineCores) == [6, 6])

        let nps4 = try Topology(.synthetic(Servers.epyc9654NPS4.synthetic))
        let spread48 = try nps4.plan(workers: 48, policy: .spread)
        #expect(spread48.workersPer(\.numaNode, of: nps4.machineCores) == Array(repeating: 6, count: 8))
        #expect(spread48.workersPer(\.l3Group, of: nps4.machineCores) == Array(repeating: 2, count: 24))
        let all192 = try nps4.plan(workers: 192)
        #expect(all192.sumRunsByNUMANode.map(\.workers) == Array(repeating: 24, count: 8))
        #expect(all192.sumRunsByNUMANode.map(\.node) == Array(0..<8))
    }

    @Test("an XML export plans like the topology it came from (this machine's and a described server's)")
    func xmlRoundTrip() throws {
        let dir = try temporaryDirectory()
        for (name, source) in [("this", Topology.Source.thisMachine), ("epyc", .synthetic(Servers.epyc9654NPS4.synthetic))] {
            let original = try Topology(source)
            let path = "\(dir)/\(name).xml"
            #expect(original.exportXML(to: path))
            let read = try Topology(.xml(path: path))
            #expect(read.machineCores == original.machineCores)
            #expect(read.numaNodes == original.numaNodes && read.l3Groups == original.l3Groups)
            for policy in PlacementPolicy.allCases {
                let n = max(1, original.machineCores.count / 2 + 1)
                #expect(
                    try PlacementPlan(cores: read.machineCores, workers: n, policy: policy)
                        == PlacementPlan(cores: original.machineCores, workers: n, policy: policy))
            }
        }
    }

    @Test("bad descriptions and files are one clear error; a described machine cannot run workers")
    func refusals() throws {
        #expect(throws: PatchRNNError.self) { try Topology(.synthetic("pack:2 bogus:3")) }
        #expect(throws: PatchRNNError.self) { try Topology(.xml(path: "/nonexistent/server.xml")) }
        let dir = try temporaryDirectory()
        try "<topology>not hwloc".write(toFile: dir + "/bad.xml", atomically: true, encoding: .utf8)
        #expect(throws: PatchRNNError.self) { try Topology(.xml(path: dir + "/bad.xml")) }
        let described = try Topology(.synthetic(Servers.xeonVM16.synthetic))
        #expect(!described.bindCurrentThread(toPU: 0))
        #expect(throws: PatchRNNError.self) { try WorkerPool.make(threads: 1, topology: described) }
    }

    @Test("sum slices cover the parameter vector exactly once for any worker count, balanced to one block")
    func sumSlicesCoverExactlyOnce() {
        let lstm = ParameterLayout(.default).paddedCount, gru = ParameterLayout(ModelConfig(cell: GRUCell.self)).paddedCount
        #expect(lstm == 65_920)
        let counts = Array(1...300) + [1029, 1030, 1031, 4096]
        for padded in [lstm, gru, 64, 640] {
            for workers in counts {
                var covered = [UInt8](repeating: 0, count: padded)
                var sizes: [Int] = []
                for w in 0..<workers {
                    let r = SumSlices.range(worker: w, workers: workers, count: padded)
                    #expect(r.lowerBound % SumSlices.block == 0 && r.upperBound % SumSlices.block == 0)
                    for i in r { covered[i] += 1 }
                    sizes.append(r.count)
                }
                #expect(covered.allSatisfy { $0 == 1 }, "\(padded) floats, \(workers) workers: not covered exactly once")
                #expect(sizes.max()! - sizes.min()! <= SumSlices.block, "\(padded) floats, \(workers) workers: unbalanced")
                // Nobody idles while another has two blocks: empty slices only past one block each.
                #expect(!sizes.contains(0) || sizes.max()! == SumSlices.block)
            }
        }
    }
}
