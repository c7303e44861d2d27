//! The server side of a hand-written HTTP/1.1 mock, for tests that must see a request exactly
//! as the client sent it: one request read off a connection. No emulator needed, so client-only
//! tests include this file on its own (`#[path = "common/http1.rs"]`).
#![allow(dead_code)]

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// A request as read off the socket.
#[derive(Debug, Clone)]
pub(crate) struct RawRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first header of that name (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request: request line, headers, a `Content-Length` body. `None` once the client
/// has closed the connection.
pub(crate) async fn read_request<R: AsyncRead + Unpin>(
    read: &mut BufReader<R>,
) -> Option<RawRequest> {
    let mut line = String::new();
    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        read.read_line(&mut header).await.ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut request = RawRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let length = request
        .header("content-length")
        .map_or(0, |v| v.parse().expect("a numeric Content-Length"));
    request.body = vec![0; length];
    read.read_exact(&mut request.body).await.ok()?;
    Some(request)
}
