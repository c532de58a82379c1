//! Waiting until something is true: a TCP port accepts, an HTTP endpoint answers as
//! wanted, a host's SSH login works, a droplet is active, a script's predicate holds.
//! Tries back off exponentially up to a cap, never past the deadline; on timeout the
//! error says what was awaited, for how long, and what the last try saw.

use std::time::{Duration, Instant};

/// Pause after the first failed try, doubling up to `cap`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        }
    }
}

/// Calls `probe` until it returns `Ok` or `timeout` has passed. `probe` gets the time that
/// is left, to bound its own try; its `Err` is the observation reported on timeout.
/// `stop` is asked between tries (Ctrl-C), with what the last try saw (shown live).
pub fn until<T>(
    what: &str,
    timeout: Duration,
    backoff: Backoff,
    stop: &dyn Fn(&str) -> bool,
    mut probe: impl FnMut(Duration) -> Result<T, String>,
) -> Result<T, String> {
    let start = Instant::now();
    let mut pause = backoff.first;
    let mut tries = 0;
    loop {
        tries += 1;
        let left = timeout.saturating_sub(start.elapsed()).max(Duration::from_millis(100));
        let last = match probe(left) {
            Ok(v) => return Ok(v),
            Err(observed) => observed,
        };
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(format!(
                "timed out after {} waiting for {what} ({tries} {}); last: {last}",
                humantime::format_duration(round(timeout)),
                if tries == 1 { "try" } else { "tries" }
            ));
        }
        if stop(&last) {
            return Err(format!("stopped while waiting for {what}; last: {last}"));
        }
        std::thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(backoff.cap.max(backoff.first));
    }
}

/// Durations in messages to the millisecond.
fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// One TCP connect to `addr:port`.
pub async fn port_open(addr: &str, port: u16, limit: Duration) -> Result<(), String> {
    let limit = limit.min(Duration::from_secs(5));
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect((addr, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(io_text(&e)),
        Err(_) => Err(format!("no answer within {}", humantime::format_duration(round(limit)))),
    }
}

/// "connection refused" rather than "Connection refused (os error 111)".
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// What an HTTP answer must be.
#[derive(Debug, Clone, Default)]
pub struct HttpWant {
    /// A status code; `None` means any 2xx.
    pub status: Option<u16>,
    /// Text the body must contain.
    pub contains: Option<String>,
}

pub fn http_client(insecure: bool) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {}", error_chain(&e)))
}

/// One GET of `url`; `Ok(status)` when the answer is as wanted.
pub async fn http_answer(client: &reqwest::Client, url: &str, want: &HttpWant, limit: Duration) -> Result<u16, String> {
    let limit = limit.min(HTTP_TRY_LIMIT);
    let resp = client.get(url).timeout(limit).send().await.map_err(|e| {
        if e.is_timeout() {
            no_answer(limit)
        } else if e.is_connect() {
            format!("cannot connect: {}", root_cause(&e))
        } else {
            error_chain(&e)
        }
    })?;
    let status = resp.status();
    judge(status, want, || async {
        resp.text().await.map_err(|e| error_chain(&e))
    })
    .await
}

/// What one GET got: its status, and its body when it was asked for.
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub body: Option<String>,
}

/// One GET made by `get` (over a tunnel through a host: `tunnel_http`), bounded like
/// `http_answer` and judged the same way; `get` reads the body when `want` needs it.
pub async fn http_answer_with(
    get: impl std::future::Future<Output = Result<Answer, String>>,
    want: &HttpWant,
    limit: Duration,
) -> Result<u16, String> {
    let limit = limit.min(HTTP_TRY_LIMIT);
    let answer = tokio::time::timeout(limit, get).await.map_err(|_| no_answer(limit))??;
    let body = answer.body.unwrap_or_default();
    judge(answer.status, want, || async { Ok(body) }).await
}

/// How long one try may take at most.
const HTTP_TRY_LIMIT: Duration = Duration::from_secs(30);

fn no_answer(limit: Duration) -> String {
    format!("no answer within {}", humantime::format_duration(round(limit)))
}

/// `Ok(status)` when the answer is as wanted, else what was seen; the body is read only
/// when it must contain something.
async fn judge<F: std::future::Future<Output = Result<String, String>>>(
    status: reqwest::StatusCode,
    want: &HttpWant,
    body: impl FnOnce() -> F,
) -> Result<u16, String> {
    let answer = format!("answer {status}");
    let status_ok = match want.status {
        Some(s) => status.as_u16() == s,
        None => status.is_success(),
    };
    if !status_ok {
        return Err(answer);
    }
    if let Some(text) = &want.contains {
        let body = body().await?;
        if !body.contains(text.as_str()) {
            let start: String = body.chars().take(80).collect();
            return Err(format!("{answer} without {text:?} in the body (it starts {start:?})"));
        }
    }
    Ok(status.as_u16())
}

/// The innermost cause ("connection refused", "invalid peer certificate: UnknownIssuer").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    match cur.downcast_ref::<std::io::Error>() {
        Some(io) => io_text(io),
        None => cur.to_string(),
    }
}

/// An error with its causes ("error sending request …: connection refused").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = match s.downcast_ref::<std::io::Error>() {
            Some(io) => io_text(io),
            None => s.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_say_what_how_long_and_the_last_observation() {
        let mut n = 0;
        let e = until(
            "the thing",
            Duration::from_millis(300),
            Backoff::default(),
            &|_| false,
            |_| -> Result<(), String> {
                n += 1;
                Err(format!("observation {n}"))
            },
        )
        .unwrap_err();
        assert!(e.starts_with("timed out after 300ms waiting for the thing ("), "{e}");
        assert!(e.ends_with(&format!("tries); last: observation {n}")), "{e}");
        // 0, 100, 300 ms, then the deadline: backoff doubles and the last try is at the end.
        assert!((3..=5).contains(&n), "{n} tries");
    }

    #[test]
    fn the_first_success_ends_the_wait() {
        let mut n = 0;
        let v = until("x", Duration::from_secs(5), Backoff::default(), &|_| false, |_| {
            n += 1;
            if n == 3 { Ok(n) } else { Err("not yet".into()) }
        });
        assert_eq!(v, Ok(3));
    }
}
