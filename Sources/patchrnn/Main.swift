import ArgumentParser
import Foundation
import PatchRNN

@main
struct PatchRNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patchrnn",
        abstract: "Train a recurrent network (LSTM or GRU) to draw the bottom half of MNIST digits from the top half.",
        discussion: """
        Each 28x28 digit is cut into 16 patches of 7x7; two stacked LSTM (or, with --cell gru, GRU) layers and a Dense layer \
        learn to predict patch t+1 from patches 1..t. Training is data-parallel over worker \
        threads pinned with hwloc. `run` trains, then generates the bottom halves of every test \
        digit from its top half and writes a 10x10 sample grid.
        """,
        subcommands: [RunCommand.self, TrainCommand.self, GenerateCommand.self, EvaluateCommand.self,
                      BenchCommand.self, TopologyCommand.self, TraceCommand.self],
        defaultSubcommand: RunCommand.self)
}
