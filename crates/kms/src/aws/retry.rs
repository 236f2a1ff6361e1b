//! Bounded retries of transient KMS failures: jittered exponential backoff under one total
//! deadline (`--kms-timeout`). The SDK's own retries are disabled, so these are the only ones
//! and the attempt count in the audit log is exact.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::{BoxedSource, Error, Result};

/// Total time one operation may take, retries included, when `--kms-timeout` is not given.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// How transient failures are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Total time for one operation, every attempt and pause included.
    pub(crate) deadline: Duration,
    /// The first pause; each later one doubles, up to `max_backoff`.
    pub(crate) base_backoff: Duration,
    /// The longest pause.
    pub(crate) max_backoff: Duration,
}

/// A successful operation and what it cost.
#[derive(Debug)]
pub(crate) struct Attempted<T> {
    pub(crate) value: T,
    pub(crate) attempts: u32,
    pub(crate) latency: Duration,
}

impl RetryPolicy {
    /// The policy for a configured deadline (`None` = [`DEFAULT_DEADLINE`]).
    pub(crate) fn with_deadline(deadline: Option<Duration>) -> Self {
        Self {
            deadline: deadline.unwrap_or(DEFAULT_DEADLINE),
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Runs `attempt` until it succeeds, fails definitively, or the deadline passes.
    ///
    /// One attempt may use at most the time left (a hung connection cannot outlive the
    /// deadline). A transient failure is retried after a pause drawn uniformly from
    /// `[d/2, d]`, `d = min(max_backoff, base_backoff · 2^(n-1))` ("equal jitter"), unless that
    /// pause would cross the deadline.
    ///
    /// # Errors
    /// The first definitive error, or [`Error::DeadlineExceeded`] holding the last transient one.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        operation: &'static str,
        key: &str,
        mut attempt: F,
    ) -> Result<Attempted<T>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let left = self.deadline.saturating_sub(started.elapsed());
            let outcome = match tokio::time::timeout(left, attempt()).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => Err(Error::Unavailable {
                    key: key.to_owned(),
                    operation,
                    source: Some(format!("no answer within {} ms", left.as_millis()).into()),
                }),
            };
            let err = match outcome {
                Ok(value) => {
                    return Ok(Attempted {
                        value,
                        attempts,
                        latency: started.elapsed(),
                    });
                }
                Err(err) if !err.is_transient() => return Err(err),
                Err(err) => err,
            };
            let pause = self.pause(attempts);
            if started.elapsed() + pause >= self.deadline {
                return Err(Error::DeadlineExceeded {
                    key: key.to_owned(),
                    operation,
                    seconds: self.deadline.as_secs(),
                    attempts,
                    source: Some(Box::new(err) as BoxedSource),
                });
            }
            tracing::debug!(
                target: "cachet::kms",
                operation,
                attempts,
                pause_ms = pause.as_millis() as u64,
                error = err.code(),
                "transient kms failure, retrying"
            );
            tokio::time::sleep(pause).await;
        }
    }

    fn pause(&self, attempts: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_backoff);
        let half = ceiling / 2;
        let extra_ms = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(extra_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> Error {
        Error::Throttled {
            key: "k".into(),
            operation: "Decrypt",
            source: None,
        }
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        let policy = RetryPolicy::with_deadline(None);
        for attempts in 1..40 {
            let pause = policy.pause(attempts);
            let ceiling =
                (policy.base_backoff * 2u32.pow(attempts.min(16) - 1)).min(policy.max_backoff);
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{attempts}: {pause:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = RetryPolicy::with_deadline(None)
            .run("Decrypt", "k", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(transient())
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!((out.value, out.attempts), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn rejects_definitive_without_retrying() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::with_deadline(None)
            .run("Decrypt", "k", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::AccessDenied {
                    key: "k".into(),
                    operation: "Decrypt",
                    source: None,
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AccessDenied { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let started = Instant::now();
        let err = RetryPolicy::with_deadline(Some(Duration::from_secs(10)))
            .run("Decrypt", "k", || async { Err::<(), _>(transient()) })
            .await
            .unwrap_err();
        let Error::DeadlineExceeded {
            attempts,
            seconds: 10,
            ..
        } = err
        else {
            panic!("{err}")
        };
        assert!(attempts > 3, "{attempts}");
        assert!(started.elapsed() <= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_cannot_outlive_the_deadline() {
        let err = RetryPolicy::with_deadline(Some(Duration::from_secs(2)))
            .run("Decrypt", "k", std::future::pending::<Result<()>>)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::DeadlineExceeded { attempts: 1, .. }),
            "{err}"
        );
    }
}
