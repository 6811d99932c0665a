//! What a node agent gives back before it sleeps: the pages of its own code.
//!
//! The agents run the one static `cococtl` binary (about 17 MiB of code, for every
//! command). Each page fault on it maps the pages around the faulting one too (the
//! kernel's fault-around), so after one probe or one install the agent keeps some 10 MiB of
//! code mapped (`RssFile`) for the minutes or days it then waits. Unmapping its executable
//! segments with `MADV_DONTNEED` before it waits takes them out of its resident set; they
//! stay in the page cache (shared with the node's other agent, which runs the same file)
//! and fault back in when it wakes. docs/node-agent.md#idle gives the figures.
//!
//! The one module of the crate with `unsafe` code: the `madvise` call.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::sys::mman::{madvise, MmapAdvise};

/// The executable, read-only mappings of `exe` in a `/proc/self/maps` text: start and
/// length of each `r-xp` line naming that file.
pub fn code_ranges(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|l| {
            // Five fields one space apart, then the path (padded, possibly with spaces).
            let mut f = l.splitn(6, ' ');
            let range = f.next()?;
            let perms = f.next()?;
            let path = f.nth(3)?.trim();
            if perms != "r-xp" || path != exe {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let a = usize::from_str_radix(a, 16).ok()?;
            let b = usize::from_str_radix(b, 16).ok()?;
            (b > a).then_some((a, b - a))
        })
        .collect()
}

/// Unmaps this process's own code pages (they fault back in on use). Returns the bytes
/// released from the mappings, 0 when it could not tell which they are.
pub fn release_code_pages() -> usize {
    let (Ok(maps), Ok(exe)) = (
        std::fs::read_to_string("/proc/self/maps"),
        std::fs::read_link("/proc/self/exe"),
    ) else {
        return 0;
    };
    let Some(exe) = exe.to_str() else { return 0 };
    let mut released = 0;
    for (start, len) in code_ranges(&maps, exe) {
        let Some(addr) = NonNull::new(start as *mut c_void) else {
            continue;
        };
        // SAFETY: the range is one whole `r-xp` private mapping of our own executable file,
        // page-aligned as /proc/self/maps gives it. Code is never written (a static-pie has
        // no text relocations), so discarding the mapped pages loses nothing: the next
        // access faults the same bytes back from the file. No Rust object lives there.
        if unsafe { madvise(addr, len, MmapAdvise::MADV_DONTNEED) }.is_ok() {
            released += len;
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executables_code_mappings_are_chosen() {
        let maps = "\
555555554000-555555600000 r--p 00000000 fe:00 42 /usr/local/bin/cococtl
555555600000-555556700000 r-xp 000ac000 fe:00 42 /usr/local/bin/cococtl
555556700000-555556800000 r--p 011ac000 fe:00 42 /usr/local/bin/cococtl
555556800000-555556900000 rw-p 01594000 fe:00 42 /usr/local/bin/cococtl
7f0000000000-7f0000100000 r-xp 00000000 fe:00 7 /usr/lib/libc.so.6
7ffcf4431000-7ffcf4452000 rw-p 00000000 00:00 0 [stack]
";
        assert_eq!(
            code_ranges(maps, "/usr/local/bin/cococtl"),
            vec![(0x5555_5560_0000, 0x110_0000)]
        );
        assert!(code_ranges(maps, "/other").is_empty());
    }

    /// The resident KiB of this process's own code mappings (`/proc/self/smaps`).
    fn resident_code_kib() -> u64 {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_str().unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_code = false;
        let mut kib = 0;
        for l in smaps.lines() {
            if l.contains('-') && l.split_whitespace().count() >= 5 && !l.ends_with(" kB") {
                in_code = l.split_whitespace().nth(1) == Some("r-xp") && l.ends_with(exe);
            } else if let (true, Some(v)) = (in_code, l.strip_prefix("Rss:")) {
                kib += v
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        kib
    }

    #[test]
    fn our_own_code_pages_go_back_and_fault_in_again() {
        let before = resident_code_kib();
        assert!(before > 0, "the test binary runs code from its own file");
        assert!(
            release_code_pages() > 0,
            "the test binary has code mappings"
        );
        let after = resident_code_kib();
        // This code kept running (its pages faulted back in), and far fewer are resident.
        assert!(after < before, "{after} KiB resident, {before} KiB before");
    }
}
