//! How cloud API clients retry, back off and poll. Bounded everywhere: a broken API ends
//! in an error that says what was tried, never in a hang.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Policy {
    /// Tries per request (the first one included).
    pub attempts: u32,
    /// First backoff after a 5xx or a connection error; doubles each time.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Longest wait for a rate limit to reset before trying again.
    pub max_wait: Duration,
    /// First interval between polls of an action or status; doubles up to `max_poll`.
    pub poll: Duration,
    pub max_poll: Duration,
    /// How long to wait for an action or a status before giving up.
    pub timeout: Duration,
    /// Page size of list requests.
    pub per_page: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_wait: Duration::from_secs(90),
            poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(10),
            timeout: Duration::from_secs(600),
            per_page: 200,
        }
    }
}

impl Policy {
    /// Backoff before try `attempt + 1` (0-based): exponential with "equal jitter", so
    /// clients that failed together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        full / 2 + jitter(full / 2)
    }

    /// Poll interval after `n` polls.
    pub fn poll_interval(&self, n: u32) -> Duration {
        self.poll.saturating_mul(1u32 << n.min(16)).min(self.max_poll)
    }

    /// Time to wait until a Unix time (`ratelimit-reset`), capped at `max_wait`. A little
    /// jitter is added on top, never subtracted: trying before the reset is wasted.
    pub fn until_epoch(&self, epoch_secs: u64) -> Duration {
        let at = UNIX_EPOCH + Duration::from_secs(epoch_secs);
        let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
        (wait + jitter(Duration::from_millis(250))).min(self.max_wait)
    }
}

pub fn jitter(max: Duration) -> Duration {
    max.mul_f64(fastrand::f64())
}
