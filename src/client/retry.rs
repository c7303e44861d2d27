//! When a failed call is tried again, and how long to wait first.

use std::time::Duration;

use rand::Rng;

use super::version::Operation;

/// How a failed attempt ended, as far as retrying is concerned.
///
/// ```
/// use azure_signalr_rest::{Failure, Operation, RetryPolicy};
/// // A request that never reached the service is safe to repeat, even a send.
/// assert!(RetryPolicy::default().retry_after(Operation::SendToUser, Failure::NotSent, 1).is_some());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The request never reached the service (connection refused, DNS failure...): safe to
    /// repeat for any operation.
    NotSent,
    /// 429: the service refused the request without acting on it.
    Throttled {
        /// The service's `Retry-After` hint.
        retry_after: Option<Duration>,
    },
    /// A 5xx answer, a timeout or a broken response: the service may have acted on the request.
    MaybeDelivered,
}

/// Retries with exponential backoff and jitter.
///
/// Idempotent operations (membership, existence checks, closing, health) are retried after
/// connect failures, 429, 5xx and timeouts. A send is retried only when it cannot have been
/// delivered (connect failure, 429), unless [`RetryPolicy::retry_sends`] opts in to repeating
/// sends that may have been delivered (at-least-once instead of at-most-once).
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(100))
///     .max_backoff(Duration::from_secs(2))
///     .retry_sends(true);
/// assert_eq!(policy.attempts(), 5);
/// assert!(policy.backoff(10) <= Duration::from_secs(2));
/// assert_eq!(RetryPolicy::none().attempts(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    retry_sends: bool,
}

impl Default for RetryPolicy {
    /// Three attempts, backoff from 200 ms doubling up to 5 s, sends not repeated.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            retry_sends: false,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::RetryPolicy::none().attempts(), 1);
    /// ```
    pub fn none() -> RetryPolicy {
        RetryPolicy::default().max_attempts(1)
    }

    /// Total attempts including the first (at least 1).
    ///
    /// ```
    /// use azure_signalr_rest::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> RetryPolicy {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Backoff before the first retry; it doubles for each further retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = azure_signalr_rest::RetryPolicy::default().initial_backoff(Duration::from_millis(10));
    /// assert!(p.backoff(1) <= Duration::from_millis(10));
    /// ```
    pub fn initial_backoff(mut self, backoff: Duration) -> RetryPolicy {
        self.initial_backoff = backoff;
        self
    }

    /// Longest wait between attempts; a `Retry-After` longer than this ends the retries.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = azure_signalr_rest::RetryPolicy::default().max_backoff(Duration::from_secs(1));
    /// assert!(p.backoff(30) <= Duration::from_secs(1));
    /// ```
    pub fn max_backoff(mut self, backoff: Duration) -> RetryPolicy {
        self.max_backoff = backoff;
        self
    }

    /// Whether a send that may already have been delivered (5xx, timeout) is sent again.
    ///
    /// ```
    /// use azure_signalr_rest::{Failure, Operation, RetryPolicy};
    /// let p = RetryPolicy::default().retry_sends(true);
    /// assert!(p.retry_after(Operation::Broadcast, Failure::MaybeDelivered, 1).is_some());
    /// ```
    pub fn retry_sends(mut self, retry: bool) -> RetryPolicy {
        self.retry_sends = retry;
        self
    }

    /// Total attempts including the first.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::RetryPolicy::default().attempts(), 3);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before retry number `retry` (1 = the first retry): a random duration between half
    /// and all of `initial * 2^(retry-1)`, capped at the maximum.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = azure_signalr_rest::RetryPolicy::default();
    /// let b = p.backoff(2);
    /// assert!(b >= Duration::from_millis(200) && b <= Duration::from_millis(400));
    /// ```
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let full = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        // "Equal jitter": keeps at least half the backoff while spreading concurrent clients.
        let half = full / 2;
        half + rand::rng().random_range(Duration::ZERO..=full - half)
    }

    /// The wait before retry number `retry` after `failure` of `operation`, or `None` when it
    /// must not be retried.
    ///
    /// ```
    /// use std::time::Duration;
    /// use azure_signalr_rest::{Failure, Operation, RetryPolicy};
    /// let policy = RetryPolicy::default();
    /// assert!(policy.retry_after(Operation::Broadcast, Failure::MaybeDelivered, 1).is_none());
    /// assert!(policy.retry_after(Operation::Broadcast, Failure::NotSent, 1).is_some());
    /// assert!(policy.retry_after(Operation::UserExists, Failure::MaybeDelivered, 1).is_some());
    /// assert!(policy.retry_after(Operation::UserExists, Failure::NotSent, 3).is_none());
    /// ```
    pub fn retry_after(
        &self,
        operation: Operation,
        failure: Failure,
        retry: u32,
    ) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(retry);
        match failure {
            Failure::NotSent => Some(backoff),
            Failure::Throttled { retry_after: None } => Some(backoff),
            Failure::Throttled {
                retry_after: Some(wait),
            } => (wait <= self.max_backoff).then_some(wait.max(backoff)),
            Failure::MaybeDelivered => {
                (!operation.is_send() || self.retry_sends).then_some(backoff)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(1000));
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b20 = p.backoff(20);
            assert!(b20 >= Duration::from_millis(500) && b20 <= Duration::from_millis(1000));
        }
        assert!(p.backoff(u32::MAX) <= Duration::from_millis(1000));
    }

    #[test]
    fn sends_not_repeated_unless_opted_in() {
        let p = RetryPolicy::default();
        for op in [Operation::SendToUser, Operation::SendToConnection] {
            assert!(p.retry_after(op, Failure::MaybeDelivered, 1).is_none());
            assert!(p.retry_after(op, Failure::NotSent, 1).is_some());
            assert!(p
                .retry_after(op, Failure::Throttled { retry_after: None }, 1)
                .is_some());
        }
        let p = p.retry_sends(true);
        assert!(p
            .retry_after(Operation::SendToUser, Failure::MaybeDelivered, 1)
            .is_some());
    }

    #[test]
    fn attempts_limit() {
        let p = RetryPolicy::default().max_attempts(2);
        assert!(p
            .retry_after(Operation::Health, Failure::NotSent, 1)
            .is_some());
        assert!(p
            .retry_after(Operation::Health, Failure::NotSent, 2)
            .is_none());
        assert!(RetryPolicy::none()
            .retry_after(Operation::Health, Failure::NotSent, 1)
            .is_none());
    }

    #[test]
    fn retry_after_honoured_up_to_the_cap() {
        let p = RetryPolicy::default().max_backoff(Duration::from_secs(5));
        let wait = p
            .retry_after(
                Operation::Health,
                Failure::Throttled {
                    retry_after: Some(Duration::from_secs(4)),
                },
                1,
            )
            .unwrap();
        assert!(wait >= Duration::from_secs(4));
        assert!(p
            .retry_after(
                Operation::Health,
                Failure::Throttled {
                    retry_after: Some(Duration::from_secs(60))
                },
                1
            )
            .is_none());
    }
}
