import ArgumentParser
import Foundation
import PatchRNN

/// An error as the tool prints it: settings named by their flags.
func message(_ e: PatchRNNError) -> String {
    e.setting.map { "\($0.flag) \(e.problem)" } ?? e.description
}

/// A message on standard error (lost, not fatal, when standard error cannot be written).
func printError(_ s: String) { StandardStreams.error(s + "\n") }

/// Results on standard output: a write that fails (closed, full, broken pipe) is an error.
func printResult(_ s: String, terminator: String = "\n") throws { try StandardStreams.output(s + terminator) }

/// The processes of this run: the MPI job in builds with the MPI trait (a group of one when
/// started without mpirun), else this process alone.
func startProcessGroup() throws -> ProcessGroup {
    #if MPI
        return try MPIProcessGroup()
    #else
        return SingleProcess()
    #endif
}

/// Runs a command body; a PatchRNNError becomes one line on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    try reportingErrors(group: SingleProcess(), body)
}

/// Runs a command body that may span MPI ranks. A PatchRNNError becomes one line on stderr and,
/// with several ranks, ends all of them (MPI_Abort) instead of leaving them waiting in a
/// collective; an interruption is reported once (by rank 0) and every rank exits with
/// 128 + signal.
func reportingErrors(group: ProcessGroup, _ body: () throws -> Void) throws {
    do {
        try body()
        group.finish()
    } catch let e as PatchRNNError {
        if group.size > 1 {
            printError("error (\(group.label)): \(message(e))")
            group.abort(code: 1)
        }
        printError("error: \(message(e))")
        throw ExitCode(1)
    } catch let i as TrainingInterrupted {
        if group.isRoot { printError(i.description) }
        group.finish()
        throw ExitCode(i.signal == 0 ? 0 : 128 + i.signal)
    } catch let code as ExitCode {
        throw code
    } catch {
        // Anything else (a system library's error) is still one line, and still ends every rank.
        let line = "\(error)".split(separator: "\n").first.map(String.init) ?? "unexpected error"
        if group.size > 1 {
            printError("error (\(group.label)): \(line)")
            group.abort(code: 1)
        }
        printError("error: \(line)")
        throw ExitCode(1)
    }
}
