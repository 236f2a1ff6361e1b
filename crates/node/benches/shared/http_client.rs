//! A keep-alive HTTP/1.1 JSON-RPC client on a plain `TcpStream` (no client library: the
//! benches time the server, and this adds nothing but a write and a read per call). Shared by
//! the `rpc_access` and `devnet_tx` benches.
// Each bench uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

/// One keep-alive HTTP/1.1 client.
pub(crate) struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    auth: Option<String>,
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr, auth: Option<String>) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Self {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
            auth,
        }
    }

    /// Sends one call and returns the response body; panics unless it is a 200 with a result.
    pub(crate) fn call(&mut self, body: &str) -> String {
        let (status, out) = self.post(body);
        assert!(status.contains(" 200 "), "{status} {out}");
        assert!(out.contains("\"result\""), "{out}");
        out
    }

    /// Sends one call: the status line and the response body, whatever they are.
    pub(crate) fn post(&mut self, body: &str) -> (String, String) {
        let auth = self
            .auth
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            self.writer,
            "POST / HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut len = 0usize;
        let mut status = String::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read");
            if status.is_empty() {
                status = line.clone();
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut out = vec![0u8; len];
        self.reader.read_exact(&mut out).expect("body");
        (status, String::from_utf8(out).expect("utf-8"))
    }

    /// Calls `method` with `params` (a JSON array) and returns the parsed response
    /// (`result` or `error`).
    pub(crate) fn rpc(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                .to_string();
        let (status, out) = self.post(&body);
        assert!(status.contains(" 200 "), "{method}: {status} {out}");
        serde_json::from_str(&out).expect("json response")
    }

    /// `rpc`'s `result`; panics on an error response.
    pub(crate) fn result(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let mut v = self.rpc(method, params);
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].take()
    }
}
