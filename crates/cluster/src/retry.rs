//! Which API errors are worth retrying, and how long to wait: exponential backoff from
//! `backon`, with the server's `Retry-After` (429, 503) winning when it says more.

use std::time::Duration;

/// The backoff for API calls: 200 ms doubling, at most 5 retries, 10 s apart at most.
pub fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_factor(2.0)
        .with_max_times(5)
}

/// A 4xx other than 409 (conflict), 429 (throttled) and 408 will not get better by retrying.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => !(400..500).contains(&s.code) || matches!(s.code, 408 | 409 | 429),
        _ => true,
    }
}

/// The server's `Retry-After`, when the error carries one (kube keeps it in the status
/// details' `retryAfterSeconds`).
pub fn retry_after(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) => s.details.as_ref().and_then(|d| {
            (d.retry_after_seconds > 0)
                .then(|| Duration::from_secs(u64::from(d.retry_after_seconds)))
        }),
        _ => None,
    }
}

/// [`is_transient`], except a server-side apply conflict (409 with `FieldManagerConflict`
/// causes) and an `AlreadyExists`, which retrying does not change.
pub fn is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) if s.code == 409 => {
            s.reason != "AlreadyExists" && !crate::error::is_field_conflict(s)
        }
        other => is_transient(other),
    }
}
