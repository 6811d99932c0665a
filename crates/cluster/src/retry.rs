//! Which API errors are worth retrying, and for how long. A control plane restarts
//! (upgrades, etcd leader changes, managed-service maintenance): connection refused or
//! reset, 5xx, 429 and 408 are ridden out with backoff for a *patience* (the user's
//! `--timeout`, or a per-step default), the server's `Retry-After` winning when it says
//! more. A definite refusal (any other 4xx, bad credentials, an unreadable answer) ends at
//! once: retrying does not change it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long one step rides out an unreachable or overloaded API server when the user gave
/// no `--timeout` to bound it (`--wait` off, read commands).
pub const STEP_PATIENCE: Duration = Duration::from_secs(120);

/// How long a node agent rides out an API outage before its report fails: longer than any
/// control-plane restart, so an agent never crash-loops because of one.
pub const AGENT_PATIENCE: Duration = Duration::from_secs(600);

/// The first delay between attempts; it doubles up to [`MAX_DELAY`].
pub const MIN_DELAY: Duration = Duration::from_millis(200);

/// The longest delay between attempts, so a server that is back is noticed within seconds.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The backoff of the callers that count attempts rather than time: 200 ms doubling, at
/// most 5 retries, 10 s apart at most.
pub fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(Duration::from_secs(10))
        .with_factor(2.0)
        .with_max_times(5)
}

/// A 4xx other than 409 (conflict), 429 (throttled) and 408 will not get better by
/// retrying; neither do bad credentials, a request that cannot be built, an answer that
/// cannot be read or a TLS failure (a wrong CA does not heal). The rest is the transport
/// failing (refused, reset, closed mid-answer) or the server overloaded.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => !(400..500).contains(&s.code) || matches!(s.code, 408 | 409 | 429),
        kube::Error::Auth(_)
        | kube::Error::BuildRequest(_)
        | kube::Error::SerdeError(_)
        | kube::Error::InferConfig(_)
        | kube::Error::Discovery(_)
        | kube::Error::ProxyProtocolUnsupported { .. }
        | kube::Error::ProxyProtocolDisabled { .. } => false,
        other => !is_tls_failure(other),
    }
}

/// Whether a transport error is a TLS handshake or certificate failure.
fn is_tls_failure(e: &kube::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.is::<rustls::Error>() {
            return true;
        }
        src = s.source();
    }
    false
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

/// The delay after `attempt` failed attempts (1-based): [`MIN_DELAY`] doubling, capped at
/// [`MAX_DELAY`], unless the server asked for more.
pub fn delay(attempt: u32, asked: Option<Duration>) -> Duration {
    let backoff = MIN_DELAY
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(MAX_DELAY);
    asked.map_or(backoff, |a| a.max(backoff))
}

/// Runs `f` until it succeeds, fails for good (`retryable` says no), or failing attempts
/// have gone on for `patience`. `on_retry` hears every failure that will be retried, with
/// the delay before the next attempt. The last error is returned as it came.
pub async fn with_patience<T, F, Fut>(
    patience: Duration,
    retryable: fn(&kube::Error) -> bool,
    mut f: F,
    mut on_retry: impl FnMut(&kube::Error, Duration),
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut failing_since: Option<Instant> = None;
    let mut attempt = 0u32;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if !retryable(&e) => return Err(e),
            Err(e) => {
                attempt += 1;
                let since = *failing_since.get_or_insert_with(Instant::now);
                let d = delay(attempt, retry_after(&e));
                // The next attempt must still start within the patience.
                let left = patience.saturating_sub(since.elapsed());
                if left.is_zero() {
                    return Err(e);
                }
                let d = d.min(left);
                on_retry(&e, d);
                tokio::time::sleep(d).await;
            }
        }
    }
}
