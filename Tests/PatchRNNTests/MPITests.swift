import Foundation
import Testing

@testable import PatchRNN

/// The Open MPI path (issue #7), run for real with mpirun on this machine. It needs a
/// patchrnn built with `--traits MPI`; scripts/test.sh builds one when Open MPI is installed
/// (`scripts/setup.sh --mpi` installs it) and names it in PATCHRNN_MPI_BINARY.
enum MPISetup {
    static let binary: String? = ProcessInfo.processInfo.environment["PATCHRNN_MPI_BINARY"].flatMap {
        FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil
    }
    static let mpirun: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
    // Tests run as root in CI containers; Open MPI refuses that unless told it is intended.
    static let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]
}

@Suite(
    "MPI: ranks x threads", .serialized,
    .enabled(
        if: (MPISetup.binary != nil && MPISetup.mpirun != nil) || runningUnderCI,
        "no MPI build (PATCHRNN_MPI_BINARY unset or not executable) or no mpirun; scripts/test.sh builds one"))
struct MPITests {
    // Under CI the suite runs even without an MPI build, so that its absence fails here.
    func mpirun(ranks: Int, _ args: [String]) throws -> ProcessResult {
        let mpirun = try #require(MPISetup.mpirun, "no mpirun (CI installs Open MPI through scripts/test.sh)")
        let binary = try #require(MPISetup.binary, "no MPI build of patchrnn (PATCHRNN_MPI_BINARY)")
        return try runProcess(mpirun, ["--oversubscribe", "-np", "\(ranks)", binary] + args, environment: MPISetup.environment)
    }

    func single(_ args: [String]) throws -> ProcessResult {
        let binary = try #require(MPISetup.binary, "no MPI build of patchrnn (PATCHRNN_MPI_BINARY)")
        return try runProcess(binary, args, environment: MPISetup.environment)
    }

    /// Weights and per-epoch losses of a finished run.
    func outcome(_ out: String) throws -> (weights: [String: [Float]], losses: [String]) {
        let (params, _) = try Safetensors.load(path: out + "/model.safetensors")
        var weights: [String: [Float]] = [:]
        for v in params.layout.allViews {
            weights[v.name] = Array(UnsafeBufferPointer(start: params.buffer.pointer + v.offset, count: v.count))
        }
        let log = try String(contentsOfFile: out + "/train-log.jsonl", encoding: .utf8)
        // Everything but the timings.
        let losses = log.split(separator: "\n").map { line in
            line.split(separator: ",").filter { !$0.contains("seconds") && !$0.contains("samples_per_s") }.joined(separator: ",")
        }
        return (weights, losses)
    }

    @Test(
        "2 ranks x 1 thread == 1 rank x 2 threads == 1 x 1, bit for bit (and 3 ranks, uneven slots), for each cell",
        arguments: Cells.names)
    func sameWeightsAnySplit(cell: String) throws {
        let data = try writeSyntheticMNIST(train: 700, test: 50)
        // batch 48 = 12 shards of 4 (the default for 48); 630 training images leave a last minibatch of 6.
        let common = ["train", "--cell", cell, "--data", data, "--epochs", "3", "--batch-size", "48", "--seed", "5", "--quiet"]
        let runs: [(String, () throws -> ProcessResult)] = [
            ("r1t1", { try single(common + ["--threads", "1", "--out", data + "/r1t1"]) }),
            ("r1t2", { try single(common + ["--threads", "2", "--out", data + "/r1t2"]) }),
            ("r2t1", { try mpirun(ranks: 2, common + ["--threads", "1", "--out", data + "/r2t1"]) }),
            ("r3t1", { try mpirun(ranks: 3, common + ["--threads", "1", "--out", data + "/r3t1"]) }),
        ]
        var outcomes: [String: (weights: [String: [Float]], losses: [String])] = [:]
        for (name, start) in runs {
            let r = try start()
            try #require(r.status == 0, "\(name): exit \(r.status)\n\(r.stderr)")
            #expect(!r.stdout.contains("rank 1"), "only rank 0 reports")
            outcomes[name] = try outcome(data + "/" + name)
        }
        let reference = try #require(outcomes["r1t1"])
        #expect(reference.losses.count == 3)
        #expect(reference.weights.keys.contains("\(cell).weight_hh_l0"), "the runs trained a \(cell)")
        for name in ["r1t2", "r2t1", "r3t1"] {
            let o = try #require(outcomes[name])
            #expect(o.losses == reference.losses, "\(cell) \(name) losses")
            for (tensor, values) in reference.weights {
                #expect(o.weights[tensor] == values, "\(cell) \(name): \(tensor) differs")
            }
        }
    }

    @Test("2 ranks x 8 workers == 1 x 16 == 1 x 1, bit for bit (oversubscribed: each rank's 8 workers on its one core)")
    func manyWorkersPerRank() throws {
        let data = try writeSyntheticMNIST(train: 500, test: 30)
        // batch 100 = 25 shards of 4: 12 and 13 per rank, neither divisible among 8 workers;
        // 450 training images leave a last minibatch of 50.
        let common = ["train", "--data", data, "--epochs", "2", "--batch-size", "100", "--seed", "6", "--quiet"]
        let r1t1 = try single(common + ["--threads", "1", "--out", data + "/r1t1"])
        let r1t16 = try single(common + ["--threads", "16", "--oversubscribe", "--out", data + "/r1t16"])
        let r2t8 = try mpirun(ranks: 2, common + ["--threads", "8", "--oversubscribe", "--out", data + "/r2t8"])
        for (name, r) in [("1 x 1", r1t1), ("1 x 16", r1t16), ("2 x 8", r2t8)] { try #require(r.status == 0, "\(name): \(r.stderr)") }
        let reference = try outcome(data + "/r1t1")
        #expect(reference.losses.count == 2)
        for name in ["r1t16", "r2t8"] {
            let o = try outcome(data + "/" + name)
            #expect(o.losses == reference.losses, "\(name) losses")
            for (tensor, values) in reference.weights { #expect(o.weights[tensor] == values, "\(name): \(tensor) differs") }
        }
    }

    @Test("--mpi-exchange allreduce sums the same gradient as one process: Adam's moments after one step agree")
    func allreduceSumsTheGradient() throws {
        // Adam's update hardly depends on the gradient's scale, so losses alone would not catch
        // a reduction that sums twice or takes a mean; the moments after one step (m = 0.1 g,
        // v = 0.001 g^2) are the gradient itself.
        let data = try writeSyntheticMNIST(train: 500, test: 20)
        let common = ["train", "--data", data, "--batch-size", "64", "--threads", "1", "--max-steps", "1", "--quiet"]
        let one = try single(common + ["--out", data + "/one"])
        let two = try mpirun(ranks: 2, common + ["--out", data + "/two", "--mpi-exchange", "allreduce"])
        try #require(one.status == 0 && two.status == 0, "\(one.stderr)\n\(two.stderr)")
        let (_, a) = try Safetensors.load(path: data + "/one/resume.safetensors")
        let (_, b) = try Safetensors.load(path: data + "/two/resume.safetensors")
        #expect(a.metadata["adam_step"] == "1" && b.metadata["adam_step"] == "1")
        for name in ["optimizer.adam_m", "optimizer.adam_v"] {
            let x = try #require(a.tensors[name]?.values), y = try #require(b.tensors[name]?.values)
            let scale = Double(x.map { abs($0) }.max() ?? 0)
            #expect(scale > 0)
            #expect(worstMismatch(y, x, Tolerance(absolute: 1e-5 * scale, relative: 1e-4)) == nil, "\(name)")
        }
    }

    @Test("--mpi-exchange allreduce trains to the same losses within float rounding")
    func allreduceMatchesClosely() throws {
        let data = try writeSyntheticMNIST(train: 500, test: 20)
        let common = ["train", "--data", data, "--epochs", "2", "--batch-size", "64", "--threads", "1", "--quiet"]
        let one = try single(common + ["--out", data + "/one"])
        let two = try mpirun(ranks: 2, common + ["--out", data + "/two", "--mpi-exchange", "allreduce"])
        try #require(one.status == 0 && two.status == 0, "\(one.stderr)\n\(two.stderr)")
        func losses(_ dir: String) throws -> [Double] {
            try String(contentsOfFile: dir + "/train-log.jsonl", encoding: .utf8).split(separator: "\n").flatMap { line -> [Double] in
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return [record?["train_loss"] as? Double ?? .nan, record?["val_loss"] as? Double ?? .nan]
            }
        }
        let a = try losses(data + "/one"), b = try losses(data + "/two")
        #expect(a.count == 4 && b.count == 4)
        for (x, y) in zip(a, b) { #expect(Tolerance(absolute: 0, relative: 1e-4).accepts(y, x), "\(y) vs \(x)") }
    }

    @Test(
        "a failure on one rank ends every rank with its message, not a hang",
        .enabled(if: ((try? Topology())?.machineCores.count ?? 1) >= 2, "needs two cores (one per rank)"))
    func failureOnOneRankAbortsAll() throws {
        let data = try writeSyntheticMNIST(train: 300, test: 20)
        // mpirun binds rank 0 to the first core, so naming the second core fails on rank 0
        // only; rank 1 would wait for it forever in the first collective without MPI_Abort.
        let second = try #require(try Topology().machineCores[1].pus.first)
        let start = Date()
        let r = try mpirun(
            ranks: 2,
            [
                "train", "--data", data, "--epochs", "50", "--threads", "1", "--cores", "\(second)",
                "--out", data + "/out", "--quiet",
            ])
        #expect(r.status != 0)
        #expect(r.stderr.contains("error (rank 0/2"), "\(r.stderr)")
        #expect(r.stderr.contains("is not one this process may use"))
        // Open MPI reports the abort with a help text; when its help system itself fails (seen
        // once here: "ORTE_ERROR_LOG: Out of resource ... show_help.c") it logs that instead.
        #expect(r.stderr.contains("MPI_ABORT") || r.stderr.contains("ORTE_ERROR_LOG"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 60)
    }

    @Test("topology under mpirun: each rank's host and its own cores")
    func topologyPerRank() throws {
        let r = try mpirun(ranks: 2, ["topology", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("rank ") }
        #expect(lines.count == 2, "\(r.stdout)")
        #expect(lines.first?.hasPrefix("rank 0/2 on ") == true)
        #expect(lines.last?.hasPrefix("rank 1/2 on ") == true)
        // With two or more cores, mpirun binds the two ranks to different cores: different PUs.
        let placements = lines.map { String($0[$0.range(of: "w0->PU ")!.upperBound...].prefix { $0.isNumber }) }
        if try Topology().machineCores.count >= 2 { #expect(Set(placements).count == 2, "\(r.stdout)") }
    }
}
