import ArgumentParser
import Foundation
import PatchRNN

/// The processes of this run: the MPI job in builds with the MPI trait (a group of one when
/// started without mpirun), else this process alone.
func startProcessGroup() throws -> ProcessGroup {
    #if MPI
    return try MPIProcessGroup()
    #else
    return SingleProcess()
    #endif
}

/// Runs a command body that may span MPI ranks. A PatchRNNError becomes one line on stderr
/// and, with several ranks, ends all of them (MPI_Abort) instead of leaving them waiting in
/// a collective; an interruption is reported once (by rank 0) and every rank exits with
/// 128 + signal.
func reportingErrors(group: ProcessGroup, _ body: () throws -> Void) throws {
    do {
        try body()
        group.finish()
    } catch let e as PatchRNNError {
        if group.size > 1 {
            printError("error (\(group.label)): \(e.description)")
            group.abort(code: 1)
        }
        printError("error: \(e.description)")
        throw ExitCode(1)
    } catch let i as TrainingInterrupted {
        if group.isRoot { printError(i.description) }
        group.finish()
        throw ExitCode(128 + i.signal)
    }
}
