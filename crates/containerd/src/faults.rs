//! Fault injection for the agent's own tests, compiled only with the `test-hooks` feature
//! (enabled by the test builds' dev-dependencies, never by `cargo build`): a crash after a
//! named point, and ENOSPC on the n-th host write. Without the feature [`Faults`] is empty
//! and every hook is a no-op the compiler removes, so no environment variable can make a
//! production agent abort.

/// A named point reached: a simulated crash stops the run here, with no cleanup at all.
#[derive(Debug, thiserror::Error)]
#[error("simulated crash at {0} (test hook)")]
pub struct Crash(pub String);

#[cfg(feature = "test-hooks")]
mod enabled {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::Crash;

    /// The faults to inject in this run.
    #[derive(Debug, Default)]
    pub struct Faults {
        /// Crash when this point is reached (`journal`, `step:3`, `undo:1`, `gate`, …).
        pub crash_at: Option<String>,
        /// Crash by aborting the process (end-to-end tests) rather than returning.
        pub abort: bool,
        /// Fail the n-th host file write (1-based) with ENOSPC.
        pub enospc_at_write: Option<usize>,
        /// Fail every host file write from the n-th on (a disk that stays full).
        pub enospc_from_write: Option<usize>,
        writes: AtomicUsize,
    }

    impl Faults {
        /// `COCOCTL_TEST_CRASH_AFTER=<point>` aborts the process there (end-to-end tests).
        pub fn from_env() -> Faults {
            Faults {
                crash_at: std::env::var("COCOCTL_TEST_CRASH_AFTER").ok(),
                abort: true,
                ..Faults::default()
            }
        }

        /// Returns from the run (no cleanup) at `point`.
        pub fn crash_at(point: &str) -> Faults {
            Faults {
                crash_at: Some(point.into()),
                ..Faults::default()
            }
        }

        /// Every host write from the n-th on fails with ENOSPC.
        pub fn full_disk_from(n: usize) -> Faults {
            Faults {
                enospc_from_write: Some(n),
                ..Faults::default()
            }
        }

        /// A crash point.
        pub fn point(&self, name: &str) -> Result<(), Crash> {
            if self.crash_at.as_deref() == Some(name) {
                if self.abort {
                    tracing::error!("test hook: aborting at {name}");
                    std::process::abort();
                }
                return Err(Crash(name.into()));
            }
            Ok(())
        }

        /// Called before each host file write.
        pub fn before_write(&self) -> std::io::Result<()> {
            let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
            let full = self.enospc_at_write == Some(n)
                || self.enospc_from_write.is_some_and(|from| n >= from);
            if full {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            Ok(())
        }
    }
}

#[cfg(feature = "test-hooks")]
pub use enabled::Faults;

/// No faults: production builds.
#[cfg(not(feature = "test-hooks"))]
#[derive(Debug, Default)]
pub struct Faults;

#[cfg(not(feature = "test-hooks"))]
impl Faults {
    /// No faults.
    pub fn from_env() -> Faults {
        Faults
    }

    /// Never crashes.
    #[inline(always)]
    pub fn point(&self, _name: &str) -> Result<(), Crash> {
        Ok(())
    }

    /// Never fails.
    #[inline(always)]
    pub fn before_write(&self) -> std::io::Result<()> {
        Ok(())
    }
}
