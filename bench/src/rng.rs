//! A tiny, fast PRNG (wyrand) for request ids and tenant UUIDs: one per worker, seeded from the OS, so
//! producing a UUID v4 costs a few nanoseconds and no system call.

use ring::rand::{SecureRandom as _, SystemRandom};

pub struct Rng(u64);

impl Rng {
    pub fn from_os() -> Self {
        let mut seed = [0u8; 8];
        // SystemRandom only fails when the OS has no randomness at all; fall back to the clock then.
        if SystemRandom::new().fill(&mut seed).is_err() {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            seed = (nanos as u64).to_le_bytes();
        }
        Self(u64::from_le_bytes(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }

    /// A random (version 4, RFC 4122 variant) UUID, lower-case and hyphenated, written into `out`.
    pub fn uuid_into(&mut self, out: &mut [u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut at = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[at] = b'-';
                at += 1;
            }
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 0x0f)];
            at += 2;
        }
    }

    pub fn uuid_string(&mut self) -> String {
        let mut buf = [0u8; 36];
        self.uuid_into(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let mut rng = Rng::from_os();
        let a = rng.uuid_string();
        let b = rng.uuid_string();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_eq!(a.matches('-').count(), 4);
    }
}
