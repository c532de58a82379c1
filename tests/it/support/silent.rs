//! A server that accepts connections and never answers: what a hung API or Docker engine
//! looks like to a client. Connections are held open (read, never written to) until the
//! server is dropped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Silent {
    /// `http://127.0.0.1:PORT`, or the socket's path.
    pub url: String,
    /// How many connections it accepted.
    accepted: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    socket: Option<PathBuf>,
}

impl Silent {
    /// On a TCP port of 127.0.0.1.
    pub fn tcp() -> Silent {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        Self::serve(url, None, move || {
            listener.accept().ok().map(|(s, _)| Box::new(s) as Box<dyn Read + Send>)
        })
    }

    /// On a Unix socket at `path` (`unix://PATH` is then its URL).
    pub fn unix(path: &Path) -> Silent {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("unix://{}", path.display());
        Self::serve(url, Some(path.to_path_buf()), move || {
            listener.accept().ok().map(|(s, _)| Box::new(s) as Box<dyn Read + Send>)
        })
    }

    fn serve(
        url: String,
        socket: Option<PathBuf>,
        accept: impl Fn() -> Option<Box<dyn Read + Send>> + Send + 'static,
    ) -> Silent {
        let (accepted, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (a, d) = (accepted.clone(), done.clone());
        std::thread::spawn(move || {
            let held: Arc<Mutex<Vec<Box<dyn Read + Send>>>> = Arc::default();
            while !d.load(Ordering::SeqCst) {
                match accept() {
                    Some(mut conn) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        // Read what the client sends (so it is not refused), answer nothing.
                        let mut buf = [0u8; 4096];
                        let _ = conn.read(&mut buf);
                        held.lock().unwrap().push(conn);
                    }
                    None => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent {
            url,
            accepted,
            done,
            socket,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}
