//! A tiny HTTP server on 127.0.0.1 for the fake cloud APIs: one thread, requests answered in
//! order by a handler that sees each request whole.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When the request arrived (to check that a client waited).
    pub at: SystemTime,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn target(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct Server {
    pub url: String,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(mut handler: impl FnMut(&Incoming) -> Reply + Send + 'static) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let (path, raw_query) = req.url().split_once('?').unwrap_or((req.url(), ""));
                let incoming = Incoming {
                    method: req.method().to_string(),
                    path: path.to_string(),
                    query: raw_query
                        .split('&')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=').unwrap_or((p, ""));
                            (decode(k), decode(v))
                        })
                        .collect(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                    at: SystemTime::now(),
                };
                let reply = handler(&incoming);
                let mut resp = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
                for (k, v) in reply.headers {
                    resp.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        Server {
            url: format!("http://127.0.0.1:{port}"),
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Percent-decoding (and `+` as space, as form encoding has it).
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).map(|h| u8::from_str_radix(h, 16)) {
                    Ok(Ok(v)) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Static files from a directory, on every interface (so that Docker test hosts reach it
/// at their gateway address). Files are read per request: a test may change them between
/// runs.
pub struct FileServer {
    pub port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    pub fn start(root: &std::path::Path) -> FileServer {
        let server = Arc::new(tiny_http::Server::http("0.0.0.0:0").expect("bind 0.0.0.0"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let (s, root) = (server.clone(), root.to_path_buf());
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let rel = decode(req.url().split('?').next().unwrap_or_default());
                let file = (!rel.split('/').any(|c| c == ".."))
                    .then(|| std::fs::read(root.join(rel.trim_start_matches('/'))).ok())
                    .flatten();
                let _ = match file {
                    Some(body) => req.respond(tiny_http::Response::from_data(body)),
                    None => req.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        FileServer {
            port,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
