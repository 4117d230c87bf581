//! How the `delegraph` binary's allocator (mimalloc) gives freed memory
//! back to the system.
//!
//! mimalloc purges memory freed a while ago. By default a purge decommits
//! it (`MADV_DONTNEED` on Linux), so the next allocation there faults and
//! the kernel zeroes the page again. A replay frees and reallocates its
//! largest buffers in waves (decoded pieces, held events, the events
//! table's pages), and paid for each wave in page faults: in four A/B
//! pairs, a replay of 100,000 CloudTrail records took 10,700–19,300 minor
//! faults and 0.4–3.7 s of system time for 1.4 s of user time on a 2-core
//! VM. Resetting instead (`MADV_FREE`) leaves the pages mapped until the
//! kernel needs them: the same replay took about 8,400 faults and
//! 0.1–0.75 s of system time.
//!
//! The price: reset pages count in the process's RSS until the kernel
//! takes them back, which it does under memory pressure (a container's
//! limit included) before an allocation would fail. A backfill of 5
//! million events peaked at 852 MB RSS instead of 710 MB. So only
//! `replay`, a batch that exits, asks for it; `serve` and the benchmarks
//! of idle state keep the default, and RSS keeps telling operators what
//! is live.
//!
//! This is the workspace's one crate with unsafe code: mimalloc's Rust
//! binding has no safe way to set an option.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// mimalloc's `mi_option_purge_decommits`: its place in `mi_option_e`
/// (`mimalloc.h`, the same in versions 2 and 3), which the Rust binding
/// does not name.
const PURGE_DECOMMITS: mi_option_t = 5;

/// Make mimalloc reset the memory it purges instead of decommitting it,
/// from now on for the whole process. `replay` calls it: a batch that
/// exits. A service keeps the default, so its RSS falls after a peak.
#[allow(unsafe_code)]
pub fn reset_purged_memory() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table;
    // 0 is a valid value of this option, and the allocator reads it only
    // when it next purges.
    unsafe { mi_option_set(PURGE_DECOMMITS, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a purge decommits memory (mimalloc's default) rather than
    /// resetting it.
    #[allow(unsafe_code)]
    fn purge_decommits() -> bool {
        // SAFETY: mi_option_get only reads mimalloc's option table
        // (reading the environment the first time).
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DECOMMITS) != 0 }
    }

    /// The option index is the one mimalloc documents as defaulting to 1
    /// (decommit); after the call it reads 0.
    #[test]
    fn purged_memory_is_reset_after_the_call() {
        assert!(purge_decommits(), "mimalloc's default is to decommit");
        reset_purged_memory();
        assert!(!purge_decommits());
    }
}
