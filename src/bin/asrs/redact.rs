//! Secrets out of the log. At `-vvv` every crate logs at trace level (HTTP and WebSocket
//! libraries included), and some of what they print carries secrets: the bearer token in an
//! `Authorization` header, `access_token=` and the connection token (`id=`) in client URLs,
//! the access key of a connection string. Every log line goes through [`redact`] on its way to
//! standard error, whatever crate or level it came from.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::LazyLock;

use regex::Regex;

/// What stands in for a secret.
const REDACTED: &str = "<redacted>";

/// A secret after its marker (kept), or a bare JWT. The value runs to the next delimiter of a
/// URL, header, connection string or debug print.
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?P<marker>\bbearer\s+|(?:^|[?&"'\s(])(?:access_token|id)=|\baccesskey=)[^\s&;"'<>)\],}]+|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"#,
    )
    .expect("the pattern is valid")
});

/// `text` with every secret replaced by `<redacted>`.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    SECRET.replace_all(text, |caps: &regex::Captures<'_>| {
        match caps.name("marker") {
            Some(marker) => format!("{}{REDACTED}", marker.as_str()),
            None => REDACTED.to_string(),
        }
    })
}

/// Standard error, with secrets redacted. The formatter writes each event in one call, so a
/// secret is never split between two writes.
pub(crate) struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_replaced_and_the_rest_kept() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl";
        for (input, expected) in [
            (
                format!("authorization: Bearer {jwt}"),
                "authorization: Bearer <redacted>".to_string(),
            ),
            (
                format!("GET /client/?hub=chat&id=AbC-1_x&access_token={jwt} HTTP/1.1"),
                "GET /client/?hub=chat&id=<redacted>&access_token=<redacted> HTTP/1.1".into(),
            ),
            (
                "query: Some(\"id=tok123&hub=chat\")".into(),
                "query: Some(\"id=<redacted>&hub=chat\")".into(),
            ),
            (
                "Endpoint=http://h;AccessKey=c2VjcmV0;Version=1.0;".into(),
                "Endpoint=http://h;AccessKey=<redacted>;Version=1.0;".into(),
            ),
            (
                format!("{{\"accessToken\":\"{jwt}\"}}"),
                "{\"accessToken\":\"<redacted>\"}".into(),
            ),
        ] {
            assert_eq!(redact(&input), expected);
        }
        // Names that merely end in `id` are not secrets.
        let plain = "connectionId=abc userid=bob hub=chat";
        assert_eq!(redact(plain), plain);
    }
}
