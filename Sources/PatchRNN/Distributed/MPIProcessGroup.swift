#if MPI
    import CMPI
    import Foundation

    /// The ranks of an Open MPI job (builds with `--traits MPI`). Only the coordinator thread
    /// (worker 0, the main thread) calls MPI, so MPI_THREAD_FUNNELED is all it asks for. MPI's
    /// default error handler ends the job on a communication failure; `abort` does so on ours.
    package final class MPIProcessGroup: ProcessGroup {
        package let rank: Int
        package let size: Int
        package let host: String
        private let world = prnn_mpi_comm_world()
        private var finished = false

        /// Initialises MPI (once per process). Outside mpirun this is a group of one.
        package init() throws {
            var provided: Int32 = 0
            guard MPI_Init_thread(nil, nil, prnn_mpi_thread_funneled(), &provided) == MPI_SUCCESS else {
                throw PatchRNNError("MPI_Init_thread failed")
            }
            var r: Int32 = 0, n: Int32 = 0
            MPI_Comm_rank(world, &r)
            MPI_Comm_size(world, &n)
            rank = Int(r)
            size = Int(n)
            var name = [CChar](repeating: 0, count: Int(prnn_mpi_max_processor_name()) + 1)
            var length: Int32 = 0
            MPI_Get_processor_name(&name, &length)
            host = String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if provided < prnn_mpi_thread_funneled() {
                throw PatchRNNError("this MPI library does not allow threads (MPI_THREAD_FUNNELED); PatchRNN's workers need it")
            }
        }

        /// In place: rank r's shards are already in their slots, MPI copies everyone's to everyone.
        package func allGatherShards(
            grads: UnsafeMutablePointer<Float>, stride: Int, losses: UnsafeMutablePointer<Double>,
            shardsOf: [Range<Int>]
        ) throws {
            precondition(shardsOf.count == size)
            var counts = shardsOf.map { Int32($0.count * stride) }, displs = shardsOf.map { Int32($0.lowerBound * stride) }
            try check(
                MPI_Allgatherv(prnn_mpi_in_place(), 0, prnn_mpi_float(), grads, &counts, &displs, prnn_mpi_float(), world), "MPI_Allgatherv"
            )
            counts = shardsOf.map { Int32($0.count) }
            displs = shardsOf.map { Int32($0.lowerBound) }
            try check(
                MPI_Allgatherv(prnn_mpi_in_place(), 0, prnn_mpi_double(), losses, &counts, &displs, prnn_mpi_double(), world),
                "MPI_Allgatherv")
        }

        package func allReduceSum(_ floats: UnsafeMutablePointer<Float>, count: Int, _ value: inout Double) throws {
            try check(MPI_Allreduce(prnn_mpi_in_place(), floats, Int32(count), prnn_mpi_float(), prnn_mpi_sum(), world), "MPI_Allreduce")
            try check(MPI_Allreduce(prnn_mpi_in_place(), &value, 1, prnn_mpi_double(), prnn_mpi_sum(), world), "MPI_Allreduce")
        }

        package func broadcast(_ values: UnsafeMutablePointer<Double>, count: Int, root: Int) throws {
            try check(MPI_Bcast(values, Int32(count), prnn_mpi_double(), Int32(root), world), "MPI_Bcast")
        }

        package func maximum(_ value: Int32) throws -> Int32 {
            var v = value, result: Int32 = 0
            try check(MPI_Allreduce(&v, &result, 1, prnn_mpi_int(), prnn_mpi_max(), world), "MPI_Allreduce")
            return result
        }

        package func gather(_ text: String) throws -> [String]? {
            var bytes = Array(text.utf8)
            var length = Int32(bytes.count)
            var lengths = [Int32](repeating: 0, count: size)
            try check(MPI_Gather(&length, 1, prnn_mpi_int(), &lengths, 1, prnn_mpi_int(), 0, world), "MPI_Gather")
            var displs = [Int32](repeating: 0, count: size)
            for r in 1..<max(size, 1) { displs[r] = displs[r - 1] + lengths[r - 1] }
            var all = [UInt8](repeating: 0, count: isRoot ? Int(lengths.reduce(0, +)) : 0)
            try check(MPI_Gatherv(&bytes, length, prnn_mpi_byte(), &all, &lengths, &displs, prnn_mpi_byte(), 0, world), "MPI_Gatherv")
            guard isRoot else { return nil }
            return (0..<size).map { String(decoding: all[Int(displs[$0])..<Int(displs[$0] + lengths[$0])], as: UTF8.self) }
        }

        package func barrier() throws { try check(MPI_Barrier(world), "MPI_Barrier") }

        package func abort(code: Int32) -> Never {
            MPI_Abort(world, code)
            exit(code)  // not reached: MPI_Abort ends the process
        }

        package func finish() {
            guard !finished else { return }
            finished = true
            MPI_Finalize()
        }

        private func check(_ rc: Int32, _ what: String) throws {
            guard rc == MPI_SUCCESS else { throw PatchRNNError("\(what) failed on \(label) (MPI error \(rc))") }
        }
    }
#endif
