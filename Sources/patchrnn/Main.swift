import ArgumentParser
import Foundation
import PatchRNN
import PatchRNNKernels

@main
struct PatchRNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patchrnn",
        abstract:
            "Train a recurrent network (LSTM or GRU) to draw the bottom half of MNIST digits (or any 28x28 IDX data set of 10 classes) from the top half.",
        discussion: """
            Each 28x28 digit is cut into 16 patches of 7x7; two stacked LSTM (or, with --cell gru, GRU) layers and a Dense layer \
            learn to predict patch t+1 from patches 1..t. Training is data-parallel over worker \
            threads pinned with hwloc. `run` trains, then generates the bottom halves of every test \
            digit from its top half and writes a 10x10 sample grid.
            """,
        subcommands: [
            RunCommand.self, TrainCommand.self, GenerateCommand.self, EvaluateCommand.self, ReportCommand.self,
            BenchCommand.self, TopologyCommand.self, TraceCommand.self,
        ],
        defaultSubcommand: RunCommand.self)

    /// ArgumentParser's own main, except that a command line it cannot parse (an unknown
    /// option, a value that is not a number) ends like every other error: one line on stderr.
    static func main() {
        StandardStreams.prepare()  // closed descriptors on /dev/null, SIGPIPE ignored: output never kills the job
        Interrupts.reset()  // training arms its own handlers just before its first step
        // The kernels read PATCHRNN_TILE once; a value they do not know must not be ignored.
        if let forced = ProcessInfo.processInfo.environment["PATCHRNN_TILE"], PanelFormat.named(forced) == nil {
            printError("error: PATCHRNN_TILE must be simd8 or simd16 (got '\(forced)')")
            Foundation.exit(1)
        }
        if let forced = ProcessInfo.processInfo.environment["PATCHRNN_GENERATION_GATES"], GateOrder(rawValue: forced) == nil {
            printError("error: PATCHRNN_GENERATION_GATES must be grouped or standard (got '\(forced)')")
            Foundation.exit(1)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            exit(withError: code)
        } catch {
            // --help and --version arrive as errors that exit 0: ArgumentParser prints them.
            if exitCode(for: error) == .success { exit(withError: error) }
            let text = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            printError("error: \(text) (see patchrnn --help)")
            Foundation.exit(exitCode(for: error).rawValue)
        }
    }
}
