//! What the fuzz targets share: one emulator app per process, a plain-text request format the
//! seeds are written in, and token signing.
//!
//! A request input reads like an HTTP/1.1 request with `\n` line ends:
//!
//! ```text
//! POST /api/hubs/chat/:send?application=app
//! authorization: Bearer $TOKEN
//! content-type: application/json
//!
//! {"target":"newMessage","arguments":["hi"]}
//! ```
//!
//! `$TOKEN` in a header value becomes a valid token for that request (audience = its URL, as
//! the service and Microsoft's SDK sign them), so the fuzzer reaches past authentication.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use azure_signalr_rest::emulator::fuzzing::{FuzzAnswer, FuzzApp};
use azure_signalr_rest::emulator::Emulator;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long an answer's head may take: every route answers at once (Long Polling waits only
/// with a negotiated id, which a fuzz input cannot know), so more is a hang.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// How long a body is read: streams (SSE) are cut there.
const BODY_WAIT: Duration = Duration::from_millis(50);

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: FuzzApp,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let app = {
            let _entered = runtime.enter();
            // Short timeouts so a stream a fuzz input opened goes away soon.
            FuzzApp::new(
                Emulator::builder()
                    .client_timeout(Duration::from_secs(2))
                    .body_timeout(Duration::from_secs(1))
                    // Valid negotiations pile up for two minutes each; keep them answerable.
                    .negotiation_limits(1_000_000, 1_000_000),
            )
        };
        Harness { runtime, app }
    })
}

/// The access key of the app.
pub fn access_key() -> &'static str {
    harness().app.access_key()
}

/// A request parsed from a fuzz input.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Reads the text format above; `None` for what no HTTP/1.1 parser would hand a router
    /// (no request line, a method that is not a token).
    pub fn parse(data: &[u8]) -> Option<RawRequest> {
        let (head, body) = match find(data, b"\n\n") {
            Some(i) => (&data[..i], data[i + 2..].to_vec()),
            None => (data, Vec::new()),
        };
        let mut lines = head.split(|&b| b == b'\n');
        let request_line = std::str::from_utf8(lines.next()?).ok()?;
        let (method, target) = request_line.split_once(' ')?;
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let headers = lines
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let name = std::str::from_utf8(&line[..colon]).ok()?.trim().to_string();
                let value = line[colon + 1..].trim_ascii().to_vec();
                Some((name, value))
            })
            .collect();
        Some(RawRequest {
            method,
            target: target.trim().to_string(),
            headers,
            body,
        })
    }

    /// The path of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first value of a query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The Host header, else `localhost` (which this request is then sent with).
    pub fn host(&self) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
            .unwrap_or_else(|| "localhost".into())
    }

    /// The audience a valid token for this request names.
    pub fn audience(&self) -> String {
        let host = self.host();
        if self.path().starts_with("/client") {
            let hub = self.query_param("hub").unwrap_or_default();
            format!("http://{host}/client/?hub={hub}")
        } else {
            format!("http://{host}{}", self.path())
        }
    }

    /// Builds the HTTP request, `$TOKEN` replaced; `None` when the target is no URI.
    pub fn to_http(&self) -> Option<Request<Body>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(&self.target);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            builder = builder.header("host", "localhost");
        }
        let token = sign_hs256(
            &serde_json::json!({"alg": "HS256", "typ": "JWT"}),
            &serde_json::json!({
                "aud": self.audience(),
                "exp": now() + 3600,
                "nameid": "fuzz",
            }),
        );
        for (name, value) in &self.headers {
            let value = replace(value, b"$TOKEN", token.as_bytes());
            // A header no HTTP parser would accept is left out, as the server never sees it.
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) else {
                continue;
            };
            builder = builder.header(name, value);
        }
        builder.body(Body::from(self.body.clone())).ok()
    }
}

/// Sends a request to the app and checks what holds for every answer: one comes within
/// [`ANSWER_DEADLINE`], no 5xx (the emulator refuses bad input with 4xx), and every 401
/// names its scheme.
pub fn answer(request: Request<Body>) -> FuzzAnswer {
    let harness = harness();
    let described = format!("{} {}", request.method(), request.uri());
    let answer = harness.runtime.block_on(async {
        tokio::time::timeout(ANSWER_DEADLINE, harness.app.answer(request, BODY_WAIT)).await
    });
    let answer = answer.unwrap_or_else(|_| panic!("no answer to {described} within 5 s"));
    assert!(
        !answer.status.is_server_error(),
        "{described} answered {}: {:?}",
        answer.status,
        answer.body.as_deref().map(String::from_utf8_lossy)
    );
    if answer.status == 401 {
        assert!(
            answer.headers.contains_key("www-authenticate"),
            "401 without WWW-Authenticate for {described}"
        );
    }
    answer
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A JWT of these header and claims JSON texts, signed HS256 with the app's key (the header's
/// `alg` is whatever the caller wrote).
pub fn sign_raw(header: &[u8], claims: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!("{}.{}", b64.encode(header), b64.encode(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(access_key().as_bytes()).expect("any key size");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

fn sign_hs256(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = find(rest, needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Decodes `data` with `protocol` three ways and checks they agree: all at once, fed to a
/// reader in two pieces (split where the input's first byte says), and re-encoded then
/// decoded again (each message comes back equal).
pub fn check_hub_protocol(protocol: azure_signalr_rest::protocol::HubProtocol, data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let whole = protocol.decode_all(data);

    let at = usize::from(split).min(data.len());
    let mut reader = protocol.reader();
    let mut pieces = Vec::new();
    let mut failed = false;
    'feed: for piece in [&data[..at], &data[at..]] {
        if reader.push(piece).is_err() {
            failed = true;
            break;
        }
        loop {
            match reader.next_message() {
                Ok(Some(message)) => pieces.push(message),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'feed;
                }
            }
        }
    }
    if let Ok(messages) = &whole {
        assert!(!failed, "decoded whole but not in two pieces split at {at}");
        assert_eq!(
            &pieces, messages,
            "two pieces decode differently from the whole"
        );
        for message in messages {
            let encoded = protocol
                .encode(message)
                .unwrap_or_else(|e| panic!("a decoded message does not encode: {e}: {message:?}"));
            let again = protocol
                .decode_all(&encoded)
                .unwrap_or_else(|e| panic!("its own encoding does not decode: {e}: {message:?}"));
            assert_eq!(
                &again,
                std::slice::from_ref(message),
                "round trip changed it"
            );
        }
    }
}
