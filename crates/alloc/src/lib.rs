//! How the `delegraph` binary's allocator (mimalloc) gets memory from the
//! system and gives freed memory back.
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
//! Where the kernel offers transparent huge pages on request (the
//! `madvise` mode, Debian's default), mimalloc asks for them for its
//! arenas, and each first touch of 2 MiB faults in a huge page the kernel
//! zeroes whole, compacting memory first when none is free. A replay
//! touches its peak (600 MB for 100,000 CloudTrail records) once. With
//! huge pages off, in A/B pairs on a 2-core VM: that replay's wall time
//! had a median of 1.39 s instead of 1.45 s and a worst of 1.56 s instead
//! of 2.21 s (six pairs), a simulated fleet's (5,000 agents, a day) 2.08 s
//! instead of 2.22 s (eight pairs), system time stayed at 0.4–0.6 s
//! instead of 0.3–1.6 s, and peak RSS fell by 40–50 MB. So `replay` also
//! turns them off ([`no_huge_pages`]). A service keeps them: its heap is
//! touched once and read for hours, where fewer TLB misses pay.
//!
//! This is the workspace's one crate with unsafe code: mimalloc's Rust
//! binding has no safe way to set an option, and `prctl` has no safe
//! binding in the standard library.

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

/// Turn transparent huge pages off for the rest of the process's life
/// (`PR_SET_THP_DISABLE`: memory touched from now on gets 4 KiB pages,
/// whatever mimalloc advised). Returns whether the kernel took it; other
/// systems than Linux have nothing to turn off.
pub fn no_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        #[allow(unsafe_code)]
        // SAFETY: PR_SET_THP_DISABLE takes an integer flag and unused
        // zero arguments; it changes a flag of the process, no memory.
        let set = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        set == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
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

    /// After the call the kernel reports huge pages off for the process.
    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_off_after_the_call() {
        assert!(no_huge_pages());
        #[allow(unsafe_code)]
        // SAFETY: PR_GET_THP_DISABLE only reads the process's flag.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
    }
}
