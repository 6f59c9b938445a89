import CZlib
import Foundation
import Testing

@testable import PatchRNN

@Suite("IDX reading, MNIST files, patches and the split")
struct DataTests {
    func write(_ bytes: [UInt8], _ path: String, gzip: Bool = false) throws {
        if gzip {
            let f = try #require(gzopen(path, "wb"))
            _ = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
            gzclose(f)
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
    }

    func expectError(_ body: () throws -> Void, contains fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
        } catch let e as PatchRNNError {
            for f in fragments { #expect(e.description.contains(f), "'\(e.description)' lacks '\(f)'", sourceLocation: sourceLocation) }
            #expect(!e.description.contains("\n"), "one line", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("an images/labels pair round-trips, gzip'd or raw")
    func readsPair() throws {
        let dir = try temporaryDirectory()
        let (images, labels) = syntheticDigits(count: 12, seed: 1)
        for gz in [false, true] {
            try write(idxBytes(dims: [12, 28, 28], payload: images), "\(dir)/i\(gz)", gzip: gz)
            try write(idxBytes(magicType: 0x08, dims: [12], payload: labels), "\(dir)/l\(gz)", gzip: gz)
            let set = try MNIST.loadPair(images: "\(dir)/i\(gz)", labels: "\(dir)/l\(gz)")
            #expect(set.count == 12)
            #expect(set.labels == labels)
            let image = Patches.toImage(Array(UnsafeBufferPointer(start: set.sequence(5), count: PatchSet.sequenceLength)))
            #expect(image == images[(5 * 784)..<(6 * 784)].map { Float($0) / 255 })
        }
    }

    @Test("every malformed file ends in a one-line error naming the file and the problem")
    func badFiles() throws {
        let dir = try temporaryDirectory()
        let (images, labels) = syntheticDigits(count: 4, seed: 2)
        try write(idxBytes(dims: [4], payload: labels), "\(dir)/labels")
        try write(idxBytes(dims: [4, 28, 28], payload: images), "\(dir)/images")
        let cases: [(String, [UInt8]?, [String])] = [
            ("missing", nil, ["missing", "no such file"]),
            ("empty", [], ["empty", "file is empty"]),
            ("magic", [0x12, 0x34, 0x08, 0x03] + Array(repeating: 0, count: 20), ["magic", "not an IDX file"]),
            ("dtype", idxBytes(magicType: 0x0D, dims: [4, 28, 28], payload: images), ["dtype", "unsupported IDX data type"]),
            ("header", [0, 0, 8, 3, 0, 0], ["header", "truncated header"]),
            ("truncated", Array(idxBytes(dims: [4, 28, 28], payload: images).dropLast(100)), ["truncated", "need 3136 data bytes"]),
            ("dims", idxBytes(dims: [4, 27, 28], payload: Array(images[0..<(4 * 27 * 28)])), ["dims", "27x28, expected 28x28"]),
            ("labels-as-images", idxBytes(dims: [4], payload: labels), ["labels-as-images", "expected an images file"]),
            ("trailing", idxBytes(dims: [4, 28, 28], payload: images + [1, 2]), ["trailing", "unexpected bytes"]),
        ]
        for (name, bytes, fragments) in cases {
            if let bytes { try write(bytes, "\(dir)/\(name)") }
            expectError({ _ = try MNIST.loadPair(images: "\(dir)/\(name)", labels: "\(dir)/labels") }, contains: fragments)
        }
        try write(idxBytes(dims: [3], payload: Array(labels[0..<3])), "\(dir)/fewer")
        expectError(
            { _ = try MNIST.loadPair(images: "\(dir)/images", labels: "\(dir)/fewer") }, contains: ["fewer", "3 labels", "4 images"])
        try write(idxBytes(dims: [4], payload: [1, 2, 3, 200]), "\(dir)/badlabel")
        expectError({ _ = try MNIST.loadPair(images: "\(dir)/images", labels: "\(dir)/badlabel") }, contains: ["label 200"])
        expectError({ _ = try MNIST.loadPair(images: dir, labels: "\(dir)/labels") }, contains: ["is a directory"])
        // A gzip stream cut short, and one with corrupted deflate data.
        try write(idxBytes(dims: [4, 28, 28], payload: images), "\(dir)/full.gz", gzip: true)
        let gz = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(dir)/full.gz")))
        try write(Array(gz[0..<(gz.count / 2)]), "\(dir)/cut.gz")
        expectError({ _ = try MNIST.loadPair(images: "\(dir)/cut.gz", labels: "\(dir)/labels") }, contains: ["cut.gz", "gzip"])
        var bad = gz
        for i in 20..<min(60, bad.count - 8) { bad[i] ^= 0x5A }
        try write(bad, "\(dir)/corrupt.gz")
        expectError({ _ = try MNIST.loadPair(images: "\(dir)/corrupt.gz", labels: "\(dir)/labels") }, contains: ["corrupt.gz"])
        expectError({ _ = try MNIST.load(directory: "\(dir)/nowhere") }, contains: ["nowhere", "not found"])
    }

    @Test(
        "thousands of random mutations of a valid IDX file: each is rejected with a one-line error or parsed into exactly its declared sizes"
    )
    func fuzzParser() {
        let (images, _) = syntheticDigits(count: 2, seed: 3)
        let valid = idxBytes(dims: [2, 28, 28], payload: images)
        var rng = SeededRandom(seed: 99)
        var rejected = 0
        for round in 0..<3000 {
            var b = valid
            switch rng.below(4) {
            case 0: for _ in 0..<(1 + rng.below(4)) { b[rng.below(16)] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1: b.removeLast(rng.below(b.count))
            case 2: b += (0..<rng.below(50)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default: b[rng.below(b.count)] ^= UInt8(1 << rng.below(8))
            }
            do {
                let f = try IDXFile.parse(b, name: "fuzz")
                // What the header declares, read here independently of the parser.
                let rank = Int(b[3])
                let declared = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(b[4 + 4 * d + $1]) } }
                #expect(b[0] == 0 && b[1] == 0 && b[2] == 0x08, "round \(round): parsed a wrong magic")
                #expect(f.dimensions == declared, "round \(round): dimensions \(f.dimensions) vs header \(declared)")
                #expect(f.bytes.count == declared.reduce(1, *), "round \(round): \(f.bytes.count) bytes for \(declared)")
                #expect(Array(b[(4 + 4 * rank)...]) == f.bytes, "round \(round): the data is not the file's")
            } catch let e as PatchRNNError {
                rejected += 1
                #expect(e.description.hasPrefix("fuzz: ") && !e.description.contains("\n"), "round \(round): \(e.description)")
            } catch {
                Issue.record("round \(round): not a PatchRNNError: \(error)")
            }
        }
        #expect(rejected > 1000, "most mutations break the file")
    }

    @Test("image -> 16 patches -> image is the identity, and patch k covers its 7x7 block")
    func patchRoundTrip() {
        var rng = SeededRandom(seed: 4)
        let image = (0..<784).map { _ in rng.uniform(0, 1) }
        let seq = Patches.fromImage(image)
        #expect(Patches.toImage(seq) == image)
        // Patch 6 = grid row 1, column 2: rows 7..13, cols 14..20; element (r, c) = r * 7 + c.
        #expect(seq[6 * 49 + 3 * 7 + 4] == image[(7 + 3) * 28 + 14 + 4])
        #expect(seq[15 * 49 + 48] == image[27 * 28 + 27])
    }

    @Test("the validation split is seeded, disjoint and complete")
    func split() {
        let a = Split(count: 1000, validationFraction: 0.1, seed: 5)
        let b = Split(count: 1000, validationFraction: 0.1, seed: 5)
        let c = Split(count: 1000, validationFraction: 0.1, seed: 6)
        #expect(a.validation.count == 100 && a.train.count == 900)
        #expect(Set(a.train).isDisjoint(with: a.validation))
        #expect(Set(a.train + a.validation) == Set(0..<1000))
        #expect(a.validation == b.validation)
        #expect(a.validation != c.validation)
    }
}
