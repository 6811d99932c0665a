//! The one seam between checks and the machine: [`Host::read`] turns a concrete [`Input`]
//! into a [`Reading`]. [`real::RealHost`] reads this machine; [`fixture::FixtureHost`] reads
//! a fake root directory plus a `hw.json` for what a directory cannot hold (CPUID, MSRs,
//! ioctls, the kernel log, node labels). Checks never know which one they have.

pub mod fixture;
pub mod fs;
pub mod real;

use crate::input::{Input, Reading};

/// Reads one concrete input (never an `Each*` pattern: the snapshot expands those).
pub trait Host {
    /// The reading of `input`; never panics, errors become readings.
    fn read(&self, input: &Input) -> Reading;
}
