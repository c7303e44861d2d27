//! Server-Sent Events: splitting a `text/event-stream` body into the data of each event.

use super::error::TransportCause;

/// The largest Server-Sent Event accepted (the hub protocol's 1 MiB plus framing).
const MAX_SSE_EVENT: usize = 2 * 1024 * 1024 + 4096;

/// Splits a `text/event-stream` body into the data of each event.
#[derive(Default)]
pub(super) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TransportCause> {
        let mut events = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                if self.line.len() + self.data.len() > MAX_SSE_EVENT {
                    return Err(TransportCause::EventTooLarge);
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                if self.has_data {
                    events.push(std::mem::take(&mut self.data));
                    self.has_data = false;
                }
            } else if let Some(value) = line.strip_prefix(b"data:") {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data
                    .extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
                self.has_data = true;
            }
            // Comments (`:`) and other fields (`event:`, `id:`, `retry:`) carry nothing here.
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::SseParser;

    #[test]
    fn sse_events_split_across_chunks_and_lines() {
        let mut p = SseParser::default();
        assert!(p.push(b":\r\n\r\n").unwrap().is_empty());
        assert!(p.push(b"data: {\"type\":6}\x1e").unwrap().is_empty());
        assert_eq!(
            p.push(b"\r\n\r\n").unwrap(),
            vec![b"{\"type\":6}\x1e".to_vec()]
        );
        let two = p.push(b"data: a\ndata:b\n\ndata: c\n\n").unwrap();
        assert_eq!(two, vec![b"a\nb".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn oversized_sse_event_is_refused() {
        let mut p = SseParser::default();
        let big = vec![b'x'; super::MAX_SSE_EVENT + 1];
        assert!(p.push(b"data: ").is_ok());
        assert!(p.push(&big).is_err());
    }
}
