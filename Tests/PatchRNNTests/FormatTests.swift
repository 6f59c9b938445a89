import CZlib
import Foundation
import Testing

@testable import PatchRNN

@Suite("Checkpoints (safetensors), PNG and the loss plot")
struct FormatTests {
    @Test(
        "a checkpoint round-trips bit for bit with PyTorch names, shapes and metadata, records its cell, and loads as that cell",
        arguments: Cells.names)
    func safetensorsRoundTrip(cellName: String) throws {
        let cell = try Cells.resolve(cellName)
        let dir = try temporaryDirectory()
        let params = Parameters.initialized(ModelConfig(cell: cell, hidden: 12, layers: 2), seed: 3)
        var options = TrainingOptions()
        options.model = params.config
        try Safetensors.save(params, metadata: options.summary(epoch: 7), to: "\(dir)/m.safetensors")
        let (loaded, file) = try Safetensors.load(path: "\(dir)/m.safetensors")
        #expect(loaded.config == params.config)
        #expect(loaded.config.cellName == cellName)
        #expect(loaded.buffer.array == params.buffer.array)
        #expect(file.metadata["epoch"] == "7")
        #expect(file.metadata["cell"] == cellName && file.metadata["gate_order"] == cell.gateOrder)
        // PyTorch's shapes: [G*H x in] for the projections, [G*H] for the biases (G gate blocks).
        let gates = cell.gateCount * 12
        #expect(file.tensors["\(cellName).weight_ih_l0"]?.shape == [gates, 49])
        #expect(file.tensors["\(cellName).weight_hh_l1"]?.shape == [gates, 12])
        #expect(file.tensors["\(cellName).bias_hh_l1"]?.shape == [gates])
        #expect(file.tensors["linear.weight"]?.shape == [49, 12])
        #expect(file.tensors["linear.bias"]?.shape == [49])
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.safetensors"])
        // A --cell naming another cell contradicts the checkpoint; naming its own does not.
        for other in Cells.names where other != cellName {
            #expect(throws: PatchRNNError.self) { try Cells.check(requested: other, against: loaded.config, file: "m") }
        }
        #expect(throws: Never.self) { try Cells.check(requested: cellName, against: loaded.config, file: "m") }
    }

    @Test("damaged or mismatched checkpoints are refused with a message saying what is wrong")
    func badCheckpoints() throws {
        let dir = try temporaryDirectory()
        let params = Parameters.initialized(ModelConfig(hidden: 8, layers: 2), seed: 1)
        let good = try Safetensors.encode(params, metadata: [:])
        func attempt(_ bytes: [UInt8], config: ModelConfig? = nil) -> String {
            let path = "\(dir)/c.safetensors"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                _ = try Safetensors.load(path: path, config: config)
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(attempt(Array(good.prefix(5))).contains("truncated"))
        #expect(attempt(Array(good.dropLast(100))).contains("outside"))
        var badLength = good
        badLength[0] = 0xFF
        badLength[1] = 0xFF
        badLength[2] = 0xFF
        #expect(attempt(badLength).contains("header length"))
        var notJSON = good
        notJSON[8] = UInt8(ascii: "#")
        #expect(attempt(notJSON).contains("not a JSON"))
        let header = String(decoding: good[8..<(8 + Int(good[0]) + Int(good[1]) << 8)], as: UTF8.self)
        func withHeader(_ h: String) -> [UInt8] {
            var padded = Array(h.utf8)
            while padded.count % 8 != 0 { padded.append(0x20) }
            let n = UInt64(padded.count)
            return (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + padded + good[(8 + header.utf8.count)...]
        }
        #expect(attempt(withHeader(header.replacingOccurrences(of: "\"F32\"", with: "\"F16\""))).contains("dtype F16"))
        #expect(attempt(withHeader(header.replacingOccurrences(of: "linear.bias", with: "linear.bogus"))).contains("missing linear.bias"))
        #expect(attempt(good, config: ModelConfig(hidden: 16, layers: 2)).contains("hidden 16"))
        #expect(attempt(good).contains("loaded"))
    }

    @Test(
        "the PNG writer produces a valid file: signature, chunk sequence and lengths, every chunk's CRC, and image data of the declared size"
    )
    func png() throws {
        let images = (0..<12).map { n in (0..<784).map { Float(($0 + n) % 28) / 27 } }
        let bytes = try digitGridPNG(images: images, columns: 5, scale: 2, markBoundary: true)
        #expect(Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func be32(_ o: Int) -> Int { Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]) }
        // Walk the chunks: length, type, data, CRC-32 (zlib's) of type + data.
        var chunks: [(type: String, data: [UInt8])] = []
        var o = 8
        while o + 12 <= bytes.count {
            let length = be32(o)
            try #require(o + 12 + length <= bytes.count, "chunk at \(o) runs past the end")
            let body = Array(bytes[(o + 4)..<(o + 8 + length)])
            let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            #expect(UInt32(be32(o + 8 + length)) == crc, "chunk \(String(decoding: body[0..<4], as: UTF8.self)): CRC")
            chunks.append((String(decoding: body[0..<4], as: UTF8.self), Array(body[4...])))
            o += 12 + length
        }
        #expect(o == bytes.count, "bytes after the last chunk")
        #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        let ihdr = chunks[0].data
        let width = Int(ihdr[0]) << 24 | Int(ihdr[1]) << 16 | Int(ihdr[2]) << 8 | Int(ihdr[3])
        let height = Int(ihdr[4]) << 24 | Int(ihdr[5]) << 16 | Int(ihdr[6]) << 8 | Int(ihdr[7])
        #expect(width == 5 * 58 + 2 && height == 3 * 58 + 2)
        #expect(Array(ihdr[8...]) == [8, 2, 0, 0, 0], "8-bit RGB, no interlace")
        // The image data inflates to one filter byte plus width x 3 bytes per row.
        let idat = chunks[1].data
        var raw = [UInt8](repeating: 0, count: height * (width * 3 + 1) + 16)
        var rawLength = uLong(raw.count)
        let rc = raw.withUnsafeMutableBufferPointer { dst in
            idat.withUnsafeBufferPointer { uncompress(dst.baseAddress, &rawLength, $0.baseAddress, uLong(idat.count)) }
        }
        #expect(rc == Z_OK && Int(rawLength) == height * (width * 3 + 1))
    }

    @Test("the loss plot is an SVG with both curves")
    func lossPlot() {
        let svg = lossPlotSVG(train: [0.05, 0.04, 0.035], validation: [0.045, 0.039, 0.036], bestEpoch: 3)
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.components(separatedBy: "<polyline").count == 3)
    }

    @Test("the loss plot shows the free-running validation curve and marks the kept epoch on the curve that decided it")
    func lossPlotMonitor() {
        let bottoms: [Double?] = [0.06, 0.041, 0.043]
        let svg = lossPlotSVG(
            train: [0.05, 0.04, 0.035], validation: [0.045, 0.039, 0.036], validationBottom: bottoms,
            bestEpoch: 2, monitor: .valBottom)
        #expect(svg.components(separatedBy: "<polyline").count == 4, "train, validation and free-running curves")
        #expect(svg.contains("kept: epoch 2"))
        #expect(svg.contains("r=\"4\" fill=\"#2ca02c\"/>"), "the marker sits on the free-running curve")
        let plain = lossPlotSVG(train: [0.05, 0.04], validation: [0.045, 0.039], bestEpoch: 2)
        #expect(plain.contains("fill=\"#d62728\"/>") && !plain.contains("free-running"))
    }
}
