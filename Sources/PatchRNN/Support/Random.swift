/// xoshiro256** seeded through SplitMix64: fast, good quality, and the same stream on every
/// platform, so a seed names one run exactly (initial weights, split, every epoch's order).
public struct SeededRandom: RandomNumberGenerator, Sendable, Equatable, Codable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    /// An independent stream for a named purpose (e.g. "split", "shuffle", "init").
    public init(seed: UInt64, stream: String) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for b in stream.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        self.init(seed: seed ^ h)
    }

    public mutating func next() -> UInt64 {
        let result = ((state[1] &* 5) << 7 | (state[1] &* 5) >> 57) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = state[3] << 45 | state[3] >> 19
        return result
    }

    /// Uniform in [0, n) without modulo bias worth mentioning (Lemire's multiply-shift).
    public mutating func below(_ n: Int) -> Int {
        Int((UInt64(n).multipliedFullWidth(by: next())).high)
    }

    /// Uniform Float in [lo, hi), from the top 24 bits.
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Fisher-Yates shuffle: the order depends only on the generator's state.
    public mutating func shuffle(_ a: inout [Int]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, below(i + 1))
        }
    }
}
