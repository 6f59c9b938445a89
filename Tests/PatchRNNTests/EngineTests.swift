import Foundation
import PatchRNNKernels
import Testing

@testable import PatchRNN

@Suite("Data-parallel engine: pinning, determinism, failures", .serialized)
struct EngineTests {
    /// A short training run; returns the weights and the losses.
    func train(
        cell: any RecurrentCell.Type = LSTMCell.self, threads: Int, pinned: Bool, format: PanelFormat = .preferred,
        sampling: Bool = false
    ) throws -> ([Float], [Double]) {
        let data = randomPatchSet(count: 200, seed: 8)
        let params = Parameters.initialized(ModelConfig(cell: cell, hidden: 24, layers: 2), seed: 42)
        let pool: WorkerPool
        if pinned, let topo = try? Topology(), threads <= topo.cores.count {
            pool = try WorkerPool.make(threads: threads, topology: topo)
        } else {
            pool = makePool(threads)
        }
        let engine = try TrainingEngine(
            params: params, adamConfig: AdamConfig(), pool: pool,
            shape: StepShape(batchSize: 37, shardSize: 8), format: format)
        var losses: [Double] = []
        var order = Array(0..<200)
        var rng = SeededRandom(seed: 1)
        for epoch in 1...2 {
            rng.shuffle(&order)
            try order.withUnsafeBufferPointer { all in
                var lo = 0
                while lo < all.count {
                    let hi = min(lo + 37, all.count)  // 37: shards of 8 plus a partial one; last batch shorter
                    let feedback =
                        sampling ? FeedbackDraw(probability: 0.5, seed: 1, epoch: epoch, sequenceIDs: all.baseAddress! + lo) : nil
                    losses.append(try engine.step(data, UnsafeBufferPointer(rebasing: all[lo..<hi]), feedback: feedback))
                    lo = hi
                }
            }
        }
        losses.append(try engine.meanLoss(data, Array(0..<50)))
        return (params.buffer.array, losses)
    }

    @Test(
        "the same seed gives bit-identical weights and losses with 1, 2, 3 and 4 threads, with each cell and GEMM tile",
        arguments: Cells.names, PanelFormat.all)
    func deterministicAcrossThreadCounts(cellName: String, format: PanelFormat) throws {
        let cell = try Cells.resolve(cellName)
        let (w1, l1) = try train(cell: cell, threads: 1, pinned: true, format: format)
        for n in [2, 3, 4] {
            let (w, l) = try train(cell: cell, threads: n, pinned: n <= 2, format: format)
            #expect(w == w1, "\(cellName) \(format): weights differ with \(n) threads")
            #expect(l == l1, "\(cellName) \(format): losses differ with \(n) threads")
        }
        #expect(l1.last! < l1.first!, "training lowered the loss")
    }

    @Test("with scheduled sampling: bit-identical weights and losses with 1, 2, 3 and 4 threads")
    func samplingDeterministicAcrossThreadCounts() throws {
        let (w1, l1) = try train(threads: 1, pinned: true, sampling: true)
        let (wTF, _) = try train(threads: 1, pinned: true)
        #expect(w1 != wTF, "sampling changed the training")
        for n in [2, 3, 4] {
            let (w, l) = try train(threads: n, pinned: n <= 2, sampling: true)
            #expect(w == w1, "weights differ with \(n) threads")
            #expect(l == l1, "losses differ with \(n) threads")
        }
    }

    @Test("training with the SIMD8 and the SIMD16 tile ends within float rounding of each other")
    func tilesAgree() throws {
        let (w8, l8) = try train(threads: 2, pinned: true, format: .simd8x16)
        let (w16, l16) = try train(threads: 2, pinned: true, format: .simd16x32)
        // The tiles sum each product in the same k order but split rows differently (tails
        // use other tiles), so the last bits differ; 12 Adam steps must not amplify that.
        #expect(worstMismatch(w16, w8, Tolerance(absolute: 1e-5, relative: 1e-4)) == nil)
        for (a, b) in zip(l16, l8) { #expect(Tolerance(absolute: 0, relative: 1e-5).accepts(a, b), "loss \(a) vs \(b)") }
    }

    @Test("workers are really pinned: hwloc and sched_getcpu agree with the placement")
    func pinning() throws {
        let topo = try Topology()
        let n = topo.cores.count
        let pool = try WorkerPool.make(threads: n, topology: topo)
        #expect(pool.bindingWarning == nil)
        #expect(pool.boundPUs == pool.placement.map { $0 })
        let seen = PerWorker<[Int]>(count: n)
        try pool.run { w in
            var cpus: [Int] = []
            for _ in 0..<50 { cpus.append(currentCPU()) }
            seen[w] = cpus
        }
        for w in 0..<n {
            #expect(Set(seen[w] ?? []) == [pool.placement[w]!], "worker \(w) ran on \(Set(seen[w] ?? []))")
        }
        // One worker per physical core first: no two workers share a core.
        let cores = pool.placement.map { topo.core(ofPU: $0!)!.index }
        #expect(Set(cores).count == n)
    }

    @Test("a pool's threads end with it, and the caller gets its CPU binding back")
    func poolCleansUp() throws {
        let topo = try Topology()
        let bindingBefore = topo.boundPU()
        weak var released: WorkerPool?
        do {
            let pool = try WorkerPool.make(threads: min(2, topo.cores.count), topology: topo)
            released = pool
            #expect(topo.boundPU() == pool.placement[0])
        }
        #expect(released == nil, "a worker thread still holds the pool")
        #expect(topo.boundPU() == bindingBefore)
    }

    @Test("a thread the system will not pin gives one warning, and the pool still works unpinned there")
    func pinningRefused() throws {
        let topo = try Topology()
        // One pool at a time: each pins this (the caller's) thread and gives the binding back
        // when it goes, so pools must end in the reverse order they were made.
        do {
            // PU 100000 does not exist: binding to it fails like a refusal in a container.
            let pool = try WorkerPool(placement: [topo.cores[0].pus[0], 100_000], topology: topo)
            #expect(pool.bindingWarning == "warning: the system refused to pin 1 of 2 worker thread(s) to their cores; running unpinned")
            #expect(pool.boundPUs[0] == topo.cores[0].pus[0] && pool.boundPUs[1] == nil)
            let hits = PerWorker<Int>(count: 2)
            try pool.run { w in hits[w] = w + 1 }
            #expect(hits.values == [1, 2])
        }
        do {
            let fine = try WorkerPool.make(threads: 1, topology: topo)
            #expect(fine.bindingWarning == nil)
        }
    }

    @Test("placement refuses more workers than cores unless SMT is allowed, and checks --cores")
    func placementLimits() throws {
        let topo = try Topology()
        #expect(throws: PatchRNNError.self) { try topo.placement(workers: topo.cores.count + 1) }
        #expect(throws: PatchRNNError.self) { try topo.placement(workers: 0) }
        #expect(throws: PatchRNNError.self) { try topo.validate(cores: [100_000]) }
        #expect(try topo.placement(workers: 1).count == 1)
    }

    @Test("an error in one worker reaches the coordinator, and the pool keeps working")
    func workerFailure() throws {
        let pool = makePool(3)
        #expect(throws: PatchRNNError("worker 2 failed")) {
            try pool.run { w in if w == 2 { throw PatchRNNError("worker \(w) failed") } }
        }
        let hits = PerWorker<Int>(count: 3)
        try pool.run { w in hits[w] = w * 10 }
        #expect((0..<3).map { hits[$0] } == [0, 10, 20])
    }

    @Test("a non-finite loss stops training with the step named")
    func nanLoss() throws {
        let data = randomPatchSet(count: 16, seed: 1)
        let params = Parameters.initialized(ModelConfig(hidden: 8, layers: 1), seed: 1)
        params.buffer[0] = .nan
        let engine = try TrainingEngine(params: params, adamConfig: AdamConfig(), pool: makePool(1), shardSize: 8, maxBatch: 16)
        do {
            _ = try Array(0..<16).withUnsafeBufferPointer { try engine.step(data, $0) }
            Issue.record("expected an error")
        } catch let e as NonFiniteLoss {
            #expect(e.step == 1 && e.description.contains("Adam step 1"))
            #expect(e.description.contains("lstm.weight_ih_l0 (weights)"), "\(e.description)")
        }
    }
}
