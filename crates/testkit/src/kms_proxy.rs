//! A TCP proxy in front of moto that records every KMS request crossing it: the operation named
//! by each request's `X-Amz-Target: TrentService.<Operation>` header. Tests point `cachet` at
//! [`KmsProxy::endpoint`] and assert the KMS calls made on the wire, not the ones cachet reports.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A running proxy to `127.0.0.1:<upstream>`; its threads end with the process.
#[derive(Debug)]
pub struct KmsProxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl KmsProxy {
    /// Listens on a free 127.0.0.1 port and forwards every connection to `upstream`.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let log = Arc::clone(&log);
                std::thread::spawn(move || pump(client, server, Some(&log)));
                std::thread::spawn(move || pump(server2, client2, None));
            }
        });
        Self { port, requests }
    }

    /// `http://127.0.0.1:PORT`: pass as `AWS_ENDPOINT_URL_KMS`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The KMS operations requested so far, in order, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
    }

    /// Like [`Self::take`], after the count has stayed the same for `quiet` (a request still
    /// in flight is then seen).
    pub fn take_settled(&self, quiet: Duration) -> Vec<String> {
        let mut seen = self.lock().len();
        let mut since = Instant::now();
        while since.elapsed() < quiet {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.lock().len();
            if now != seen {
                (seen, since) = (now, Instant::now());
            }
        }
        self.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Copies `from` → `to`; with `log`, records the operation of every KMS request header seen.
fn pump(mut from: TcpStream, mut to: TcpStream, log: Option<&Mutex<Vec<String>>>) {
    let mut buf = [0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(log) = log {
            pending.extend_from_slice(&buf[..n]);
            let operations = complete_targets(&mut pending);
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(operations);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Takes every complete header line out of `pending` and returns the KMS operations named by
/// `X-Amz-Target: TrentService.<Operation>` lines; an incomplete last line stays pending.
fn complete_targets(pending: &mut Vec<u8>) -> Vec<String> {
    const NAME: &[u8] = b"x-amz-target:";
    const SERVICE: &str = "TrentService.";
    let Some(end) = pending.windows(2).rposition(|w| w == b"\r\n") else {
        return Vec::new();
    };
    let lines: Vec<u8> = pending.drain(..end + 2).collect();
    lines
        .split(|&b| b == b'\n')
        .filter(|line| line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
        .filter_map(|line| {
            let value = String::from_utf8_lossy(&line[NAME.len()..]);
            value.trim().strip_prefix(SERVICE).map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::complete_targets;

    #[test]
    fn reads_operations_from_headers_split_across_reads() {
        let mut pending = b"POST / HTTP/1.1\r\nX-Amz-Target: TrentService.Dec".to_vec();
        assert!(complete_targets(&mut pending).is_empty());
        pending.extend_from_slice(b"rypt\r\nx-amz-target: TrentService.Encrypt\r\n\r\n{}");
        assert_eq!(complete_targets(&mut pending), ["Decrypt", "Encrypt"]);
        assert_eq!(pending, b"{}");
        let mut other = b"X-Amz-Target: Other.Thing\r\n".to_vec();
        assert!(complete_targets(&mut other).is_empty());
    }
}
