import Foundation
import ArgumentParser
import PatchRNN
import PatchRNNKernels

struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Show the machine as hwloc sees it and where the workers would be placed.")
    @Option(parsing: .unconditional, help: "Workers to place (default: all cores).") var threads: Int?
    @Flag(help: "Allow SMT siblings once every physical core has a worker.") var smt = false

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let topology = try Topology()
            let n = threads ?? topology.cores.count
            let placement = try topology.placement(workers: n, smt: smt)
            var text = group.isRoot ? topology.summary + "\n" : ""
            text += "GEMM tile: \(PanelFormat.preferred.name) (CPU AVX-512: \(PanelFormat.cpuHasAVX512 ? "yes" : "no")\(ProcessInfo.processInfo.environment["PATCHRNN_TILE"] != nil ? ", set by PATCHRNN_TILE" : ""))\n"
            if group.size > 1 { text += "\(group.label): may use \(topology.cores.count) core(s); " }
            text += "placement for \(n) worker(s): " + placement.enumerated().map { i, pu in
                let c = topology.core(ofPU: pu)
                return "w\(i)->PU \(pu) (core \(c?.index ?? -1), NUMA \(c?.numaNode ?? -1), L3 \(c?.l3Group ?? -1))"
            }.joined(separator: ", ")
            // Rank 0 prints every rank's lines, in rank order.
            if let all = try group.gather(text) { try printResult(all.joined(separator: "\n")) }
        }
    }
}
