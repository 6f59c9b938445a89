import ArgumentParser
import Foundation
import PatchRNN
import PatchRNNKernels

struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Show the machine as hwloc sees it and where the workers would be placed.",
        discussion: """
            With --synthetic or --xml, the plan is for the machine described instead of this one (nothing is pinned): \
            e.g. --synthetic "pack:2 [numa] l3:12 core:8 pu:2" (two 96-core EPYCs in NPS1), or --xml server.xml \
            exported on the server with `lstopo server.xml`.
            """)
    @Option(parsing: .unconditional, help: "Workers to place (default: all cores).") var threads: Int?
    @Flag(help: "Allow SMT siblings once every physical core has a worker.") var smt = false
    @Option(help: ArgumentHelp("With fewer threads than cores: pack or spread.", valueName: "policy"))
    var placement: PlacementPolicy = .pack
    @Option(help: ArgumentHelp("Plan for the machine of this hwloc synthetic description instead of this one.", valueName: "description"))
    var synthetic: String?
    @Option(help: ArgumentHelp("Plan for the machine of this hwloc XML file (lstopo FILE.xml) instead of this one.", valueName: "file"))
    var xml: String?

    func run() throws {
        let group = try startProcessGroup()
        try reportingErrors(group: group) {
            let source: Topology.Source
            switch (synthetic, xml) {
            case (let s?, nil): source = .synthetic(s)
            case (nil, let x?): source = .xml(path: x)
            case (nil, nil): source = .thisMachine
            default: throw PatchRNNError("--synthetic and --xml each describe a machine; give one of them")
            }
            let topology = try Topology(source)
            let plan = try topology.plan(workers: threads ?? topology.cores.count, smt: smt, policy: placement)
            var text: String
            if topology.isThisMachine {
                text = group.isRoot ? topology.summary + "\n" : ""
                text +=
                    "GEMM tile: \(PanelFormat.preferred.name) (CPU AVX-512: \(PanelFormat.cpuHasAVX512 ? "yes" : "no")\(ProcessInfo.processInfo.environment["PATCHRNN_TILE"] != nil ? ", set by PATCHRNN_TILE" : ""))\n"
                text +=
                    "generation: " + Cells.all.map { "\($0.title) \(GenerationWorkspace.stepDescription($0))" }.joined(separator: "; ")
                    + "\n"
                if group.size > 1 { text += "\(group.label): may use \(topology.cores.count) core(s); " }
            } else {
                guard group.isRoot else { return }
                let what = synthetic.map { "synthetic \"\($0)\"" } ?? "XML \(xml ?? "")"
                text = "described machine (\(what)), not this one: nothing is pinned\n"
                if let d = topology.syntheticDescription { text += "hwloc: \(d)\n" }
                text += topology.counts + "\n"
            }
            text += plan.summary(machineCores: topology.machineCores)
            // Rank 0 prints every rank's lines, in rank order.
            if !topology.isThisMachine {
                try printResult(text)
            } else if let all = try group.gather(text) {
                try printResult(all.joined(separator: "\n"))
            }
        }
    }
}
