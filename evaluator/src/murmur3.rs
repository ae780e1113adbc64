//! MurmurHash3 x86_32, the hash of the bucketing spec.
//!
//! Besides the one-shot [`murmur3_x86_32`], [`Murmur3`] hashes a key given in two
//! parts (salt, then unit) without joining them, and can be cloned after the salt so
//! that the salt is mixed once per rollout, not once per evaluation.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3_x86_32 of `data` with `seed`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut hasher = Murmur3::new(seed);
    hasher.write(data);
    hasher.finish()
}

/// Streaming MurmurHash3_x86_32: `write` any number of times, then `finish`.
#[derive(Clone, Debug)]
pub struct Murmur3 {
    h1: u32,
    /// Bytes written that do not yet fill a 4-byte block (little-endian, low bytes first).
    tail: u32,
    tail_len: u32,
    len: u32,
}

impl Murmur3 {
    pub const fn new(seed: u32) -> Self {
        Murmur3 {
            h1: seed,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    pub fn write(&mut self, mut data: &[u8]) {
        // The spec's total length is taken mod 2^32, as in the reference code.
        self.len = self.len.wrapping_add(data.len() as u32);
        // Top up a partial block left by the previous write.
        while self.tail_len != 0 {
            let Some((&byte, rest)) = data.split_first() else {
                return;
            };
            self.tail |= u32::from(byte) << (8 * self.tail_len);
            self.tail_len += 1;
            data = rest;
            if self.tail_len == 4 {
                self.h1 = mix_h1(self.h1, self.tail);
                self.tail = 0;
                self.tail_len = 0;
            }
        }
        let mut blocks = data.chunks_exact(4);
        for block in &mut blocks {
            let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
            self.h1 = mix_h1(self.h1, k);
        }
        for (i, &byte) in blocks.remainder().iter().enumerate() {
            self.tail |= u32::from(byte) << (8 * i);
        }
        self.tail_len = blocks.remainder().len() as u32;
    }

    pub fn finish(&self) -> u32 {
        let mut h1 = self.h1;
        if self.tail_len != 0 {
            h1 ^= mix_k1(self.tail);
        }
        fmix32(h1 ^ self.len)
    }
}

#[inline]
fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn mix_h1(h1: u32, k1: u32) -> u32 {
    (h1 ^ mix_k1(k1))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference vectors from the MurmurHash3 reference implementation (SMHasher).
    #[test]
    fn reference_vectors() {
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514e_28b7),
            (b"", 0xffff_ffff, 0x81f1_6f39),
            (b"\0\0\0\0", 0, 0x2362_f9de),
            (b"aaaa", 0x9747_b28c, 0x5a97_808a),
            (b"abc", 0, 0xb3dd_93fa),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
            (b"hello", 0, 0x248b_fa47),
            (
                b"The quick brown fox jumps over the lazy dog",
                0x9747_b28c,
                0x2fa8_26cd,
            ),
        ];
        for &(data, seed, want) in cases {
            assert_eq!(
                murmur3_x86_32(data, seed),
                want,
                "{:?} seed {seed:#x}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn split_writes_equal_one_write() {
        let data = b"domain-migrationuser-42 and some more bytes";
        let whole = murmur3_x86_32(data, 0);
        for split in 0..=data.len() {
            for split2 in split..=data.len() {
                let mut h = Murmur3::new(0);
                h.write(&data[..split]);
                h.write(&data[split..split2]);
                h.write(&data[split2..]);
                assert_eq!(h.finish(), whole, "splits at {split}, {split2}");
            }
        }
    }
}
