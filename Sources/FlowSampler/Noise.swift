import Foundation

/// Philox4x32-10, the counter-based generator of Salmon et al. (SC'11, "Random123").
///
/// A pure function of (key, counter): the same inputs give the same four words on any machine,
/// thread, batch or process. This is what makes sample `i`'s noise independent of how samples are
/// grouped into batches and shards.
public enum Philox {
    /// One Philox4x32-10 block: 10 rounds of the 4×32 bijection with the Weyl key schedule.
    @inline(__always)
    public static func block(
        counter c: (UInt32, UInt32, UInt32, UInt32), key k: (UInt32, UInt32)
    )
        -> (UInt32, UInt32, UInt32, UInt32)
    {
        var (c0, c1, c2, c3) = c
        var (k0, k1) = k
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9
                k1 &+= 0xBB67_AE85
            }
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n1 = UInt32(truncatingIfNeeded: p1)
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            let n3 = UInt32(truncatingIfNeeded: p0)
            (c0, c1, c2, c3) = (n0, n1, n2, n3)
        }
        return (c0, c1, c2, c3)
    }
}

/// Standard-normal noise as a pure function of (global seed, sample index).
///
/// Sample `index` draws Philox blocks with counter (block, 0, index lo, index hi) and key = seed,
/// and turns each pair of 32-bit words into two normals by Box–Muller (computed in float64, rounded
/// to float32). Nothing depends on batch size, shard layout or process, so a distributed run is
/// bit-identical to a local one.
public enum Noise {
    /// Writes `count` standard normals for sample `index` under `seed` into `into`. Allocation-free.
    public static func fill(seed: UInt64, index: Int, into: UnsafeMutablePointer<Float>, count: Int) {
        let key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        let i = UInt64(bitPattern: Int64(index))
        let lo = UInt32(truncatingIfNeeded: i)
        let hi = UInt32(truncatingIfNeeded: i >> 32)
        var j = 0
        var blockIndex: UInt32 = 0
        while j < count {
            let r = Philox.block(counter: (blockIndex, 0, lo, hi), key: key)
            blockIndex &+= 1
            let (a0, b0) = boxMuller(r.0, r.1)
            let (a1, b1) = boxMuller(r.2, r.3)
            into[j] = a0
            if j + 1 < count { into[j + 1] = b0 }
            if j + 2 < count { into[j + 2] = a1 }
            if j + 3 < count { into[j + 3] = b1 }
            j += 4
        }
    }

    /// Two independent N(0, 1) values from two uniform 32-bit words (u1 in (0, 1], no log(0)).
    @inline(__always)
    static func boxMuller(_ a: UInt32, _ b: UInt32) -> (Float, Float) {
        let scale = 1.0 / 4_294_967_296.0
        let u1 = (Double(a) + 0.5) * scale
        let u2 = (Double(b) + 0.5) * scale
        let r = (-2.0 * log(u1)).squareRoot()
        let angle = 2.0 * Double.pi * u2
        return (Float(r * cos(angle)), Float(r * sin(angle)))
    }
}

/// Class labels as pure functions of (seed, sample index), independent of batching.
public enum Labels {
    /// Balanced labels: sample `index` gets class `index mod classes` (null class 0 if `classes` ≤ 0).
    public static func balanced(index: Int, classes: Int) -> Int32 {
        guard classes > 0 else { return 0 }
        return Int32(((index % classes) + classes) % classes)
    }

    /// Uniformly random labels from a Philox stream keyed apart from the noise stream (key word 1
    /// is xored with a constant), so labels and noise are independent for the same seed.
    public static func random(seed: UInt64, index: Int, classes: Int) -> Int32 {
        guard classes > 0 else { return 0 }
        let key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32) ^ 0x4C41_424C)
        let i = UInt64(bitPattern: Int64(index))
        let r = Philox.block(
            counter: (UInt32(truncatingIfNeeded: i), UInt32(truncatingIfNeeded: i >> 32), 0, 0x4C41_424C),
            key: key)
        return Int32((UInt64(r.0) &* UInt64(classes)) >> 32)
    }
}
