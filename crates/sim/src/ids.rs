//! Identifiers (trace, span, event and session ids, access keys).
//!
//! They come from a random stream of their own, seeded apart from the one
//! that picks behaviour, so the two never shift each other's draws.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The run's identifier stream.
pub(crate) struct Ids(ChaCha8Rng);

impl Ids {
    /// The stream for a run seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(
            seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ))
    }

    /// `bytes` random bytes in lowercase hex.
    pub(crate) fn hex(&mut self, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", self.0.random::<u8>()))
            .collect()
    }

    /// A random UUID-shaped id (CloudTrail event ids, OPA decision ids).
    pub(crate) fn uuid(&mut self) -> String {
        let h = self.hex(16);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    /// An AWS access key id: `prefix` (`AKIA` long-lived, `ASIA` session)
    /// and 16 base-32 characters.
    pub(crate) fn key(&mut self, prefix: &str) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let tail: String = (0..16)
            .map(|_| ALNUM[self.0.random_range(0..ALNUM.len())] as char)
            .collect();
        format!("{prefix}{tail}")
    }
}
