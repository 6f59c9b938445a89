// The test that runs the "Training from Swift" example (TrainingFromSwiftExample.swift, whose
// code is the article's and so imports only PatchRNN).
import Foundation
import PatchRNN
import Testing

@Suite("Documentation: the Training from Swift example")
struct TrainingFromSwiftExample {
    /// The example, run as a user would: on the real MNIST files where this machine has them,
    /// else on a few hundred synthetic digits. Its model must draw better bottom halves than
    /// the same model untrained, write its files, and its checkpoint must give back the same
    /// test errors.
    @Test("the article's example trains a model that beats an untrained one, and writes its files")
    func example() throws {
        let data = try realMNISTDirectory() ?? writeSyntheticMNIST(train: 600, test: 200)
        let out = try temporaryDirectory() + "/out"

        let metrics = try trainAndGenerate(dataDirectory: data, outDirectory: out)

        for name in OutputFiles.training + OutputFiles.generation {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name) was not written")
        }
        // The checkpoint, read back as the article's last section says, and the same model
        // untrained (the job's initial weights: the settings' model and seed), on the same test set.
        let (trained, file) = try Safetensors.load(path: out + "/" + OutputFiles.checkpoint)
        let settings = try #require(TrainingOptions(metadata: file.metadata))
        let test = try MNIST.loadTest(directory: data)
        let pool = try WorkerPool.make(threads: 2, topology: nil)
        let again = try Results.generate(params: trained, test: test, pool: pool, outDirectory: nil, run: nil)
        let untrained = try Results.generate(
            params: Parameters.initialized(settings.model, seed: settings.seed), test: test,
            pool: pool, outDirectory: nil, run: nil)
        #expect(metrics.perClassCount.reduce(0, +) == test.count)
        #expect(metrics.testFreeRunningBottomMSE.isFinite)
        #expect(
            metrics.testFreeRunningBottomMSE < 0.75 * untrained.testFreeRunningBottomMSE,
            "trained \(metrics.testFreeRunningBottomMSE), untrained \(untrained.testFreeRunningBottomMSE)")
        #expect(again.testFreeRunningBottomMSE == metrics.testFreeRunningBottomMSE, "the checkpoint holds the kept weights")
    }
}
