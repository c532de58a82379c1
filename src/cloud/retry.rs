//! How cloud API clients retry, back off and poll. Bounded everywhere: a broken API ends
//! in an error that says what was tried, never in a hang. An API that never answers costs
//! one request at most `request_timeout` a try and `request_budget()` in all.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::stop::StopRequest;

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
    /// Longest wait for a connection to the API.
    pub connect_timeout: Duration,
    /// Longest time one try of a request may take, from connecting to the last byte of the
    /// answer (`[cloud]`/`[dns]` `request_timeout`).
    pub request_timeout: Duration,
    /// The run's stop request: once it comes no request is sent, and waits (polls, pauses,
    /// a read in flight) are abandoned.
    pub stop: StopRequest,
}

/// The default `request_timeout`: far below anything a person would take for a hang, far
/// above what any answer of a working API takes.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
            connect_timeout: Duration::from_secs(10),
            request_timeout: REQUEST_TIMEOUT,
            stop: StopRequest::default(),
        }
    }
}

impl Policy {
    /// The default policy with an inventory's `request_timeout` (seconds, at least 1; the
    /// connection may take as long, up to the usual 10 s) and the run's stop request.
    pub fn for_run(table: &str, seconds: Option<u64>, stop: &StopRequest) -> Result<Policy, String> {
        Ok(Policy {
            stop: stop.clone(),
            ..Self::with_request_timeout(table, seconds)?
        })
    }

    /// The default policy with an inventory's `request_timeout`.
    pub fn with_request_timeout(table: &str, seconds: Option<u64>) -> Result<Policy, String> {
        let d = Policy::default();
        let request_timeout = match seconds {
            None => d.request_timeout,
            Some(0) => return Err(format!("[{table}] request_timeout must be at least 1 (seconds)")),
            Some(s) => Duration::from_secs(s.min(3600)),
        };
        Ok(Policy {
            request_timeout,
            connect_timeout: d.connect_timeout.min(request_timeout),
            ..d
        })
    }

    /// All the tries of one request, the pauses between them included, end within this:
    /// three times `request_timeout`, so a request whose try got no answer at all is tried
    /// once more at most (two whole tries and a pause leave no time for a third).
    pub fn request_budget(&self) -> Duration {
        self.request_timeout.saturating_mul(3)
    }

    /// Whether try `attempt` (1-based) of a request that started at `started` may be
    /// followed by another after `pause`: within the attempts, and with time left in the
    /// budget for a whole try.
    pub fn try_again(&self, attempt: u32, started: Instant, pause: Duration) -> bool {
        attempt < self.attempts && started.elapsed() + pause + self.request_timeout <= self.request_budget()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tries a request gets against an API that accepts connections and never answers
    /// (each try lasts the whole `request_timeout`), with the longest pauses: their total.
    fn worst_case(p: &Policy) -> (u32, Duration) {
        let (mut tries, mut total) = (0, Duration::ZERO);
        loop {
            tries += 1;
            total += p.request_timeout;
            let pause = p.backoff.saturating_mul(1 << (tries - 1).min(16)).min(p.max_backoff);
            // `try_again` measured from a start `total` ago.
            let started = Instant::now() - total;
            if !p.try_again(tries, started, pause) {
                return (tries, total);
            }
            total += pause;
        }
    }

    #[test]
    fn an_api_that_never_answers_is_given_up_well_under_five_minutes() {
        let p = Policy::default();
        assert_eq!(p.request_timeout, Duration::from_secs(60));
        let (tries, total) = worst_case(&p);
        assert_eq!(tries, 2, "a request without an answer is tried once more");
        assert!(
            total <= p.request_budget() && total < Duration::from_secs(125),
            "{total:?}"
        );
        assert!(p.request_budget() <= Duration::from_secs(180));
        // A short timeout: as many tries, in proportion.
        let short = Policy::with_request_timeout("cloud", Some(1)).unwrap();
        assert_eq!(
            (short.request_timeout, short.connect_timeout),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        assert_eq!(worst_case(&short).0, 2);
        assert!(
            Policy::with_request_timeout("dns", Some(0))
                .unwrap_err()
                .contains("[dns] request_timeout must be at least 1")
        );
    }
}
