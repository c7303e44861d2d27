//! Forwarding client events to the app's upstream, as the service does in serverless mode.
//!
//! Which URL receives an event is decided by an ordered list of [`UpstreamTemplate`]s (the
//! official emulator's `settings.json`, see [`UpstreamSettings`]): the first template whose
//! hub, category and event patterns match wins; an event no template matches is not sent.
//!
//! What is sent is what the Azure Functions SignalR extension parses: `{"type":10}` for
//! `connected`, `{"type":11}` (with `"error"` when the connection ended with one) for
//! `disconnected`, and for a client invocation the message exactly as the client sent it,
//! without its framing, as `application/json` or `application/x-msgpack`. The answer to an
//! invocation with an id is a completion message already in the client's protocol; it is
//! passed to the client as it came.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

pub(crate) mod settings;

use super::inspect::ConnectionInfo;
use super::state::Inner;
use crate::protocol::{CompletionResult, Headers, HubMessage, HubProtocol, MessageReader};
pub use settings::{
    UpstreamSettings, UpstreamSettingsError, UpstreamTemplate, DEFAULT_UPSTREAM_URL,
};

/// Events waiting for one connection's upstream; more are dropped with a warning.
const UPSTREAM_QUEUE: usize = 64;
/// The largest invocation answer passed on to a client (the official emulator's limit).
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// What the service learnt about a client when it connected, passed on to every upstream
/// call of that connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientContext {
    /// `type: value, type: value` from the client's token.
    pub claims: Option<String>,
    /// The connect request's query (`?hub=...`), without `access_token`.
    pub query: Option<String>,
}

impl ClientContext {
    /// From the (already verified) token and the query of the connect request.
    pub(super) fn new(token: Option<&str>, query: Option<&str>) -> Self {
        ClientContext {
            claims: token.and_then(claims_header),
            query: query.and_then(client_query),
        }
    }
}

/// The token's claims as .NET prints them (`type: value`), comma-separated; an array claim
/// gives one entry per element, as a .NET `ClaimsPrincipal` holds it.
fn claims_header(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload).ok()?;
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let mut entries = Vec::new();
    for (name, value) in &claims {
        match value {
            Value::Array(items) => {
                for item in items {
                    if let Some(v) = text(item) {
                        entries.push(format!("{name}: {v}"));
                    }
                }
            }
            other => {
                if let Some(v) = text(other) {
                    entries.push(format!("{name}: {v}"));
                }
            }
        }
    }
    (!entries.is_empty()).then(|| entries.join(", "))
}

/// The query as the client sent it, `?` first, less `access_token`: the token is a credential
/// the app's upstream has no use for.
fn client_query(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            !pair.is_empty()
                && percent_encoding::percent_decode_str(name).decode_utf8_lossy() != "access_token"
        })
        .collect();
    (!kept.is_empty()).then(|| format!("?{}", kept.join("&")))
}

#[derive(Debug)]
pub(crate) enum UpstreamEvent {
    Connected,
    /// `error`: why the connection ended, when it ended with an error.
    Disconnected {
        error: Option<String>,
    },
    /// A client invocation: its bytes as received, without framing.
    Message {
        target: String,
        invocation_id: Option<String>,
        payload: Bytes,
    },
}

/// `sha256=<hex HMAC-SHA256(access key, connection id)>`.
pub(crate) fn signature(key: &str, connection_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key size");
    mac.update(connection_id.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One signature per access key, comma-separated (the receiver accepts any that matches).
fn signatures(keys: &[&str], connection_id: &str) -> String {
    keys.iter()
        .map(|k| signature(k, connection_id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The request headers of every call for one connection.
fn common_headers(info: &ConnectionInfo, context: &ClientContext, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        // Values come from the client (user id, claims): a value that cannot be a header
        // (control characters) is left out rather than failing the call.
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(v) => {
                headers.insert(HeaderName::from_static(name), v);
            }
            Err(_) => tracing::debug!(header = name, "value not sendable as a header; left out"),
        }
    };
    put("x-asrs-connection-id", &info.connection_id);
    put("x-asrs-hub", &info.hub);
    if let Some(user) = info.user_id.as_deref().filter(|u| !u.is_empty()) {
        put("x-asrs-user-id", user);
    }
    if let Some(claims) = &context.claims {
        put("x-asrs-user-claims", claims);
    }
    if let Some(query) = &context.query {
        put("x-asrs-client-query", query);
    }
    put("x-asrs-signature", signature);
    headers
}

/// Reads a body of at most `limit` bytes.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err("Invocation failed, response too large.".into());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err("Invocation failed, response too large.".into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("Invocation failed, error: {}.", e.without_url())),
        }
    }
}

/// Whether `body` is one or more whole hub messages of `protocol` (so that writing it to the
/// client cannot break the client's stream).
fn is_hub_messages(protocol: HubProtocol, body: &[u8]) -> bool {
    let mut reader = MessageReader::new(protocol, MAX_RESPONSE);
    if reader.push(body).is_err() {
        return false;
    }
    let mut any = false;
    loop {
        match reader.next_message() {
            Ok(Some(_)) => any = true,
            Ok(None) => return any && reader.buffered() == 0,
            Err(_) => return false,
        }
    }
}

/// Starts the worker for one connection. Whatever the client is to receive from the upstream
/// (completions) comes back on `replies`, encoded in the client's protocol.
pub(crate) fn spawn(
    inner: Arc<Inner>,
    info: ConnectionInfo,
    context: ClientContext,
    replies: mpsc::Sender<Bytes>,
) -> mpsc::Sender<UpstreamEvent> {
    let (tx, mut rx) = mpsc::channel::<UpstreamEvent>(UPSTREAM_QUEUE);
    tokio::spawn(async move {
        let signature = signatures(&[inner.config.access_key.as_str()], &info.connection_id);
        let headers = common_headers(&info, &context, &signature);
        let protocol = info.protocol;
        let completion = |invocation_id: String, result: CompletionResult| {
            protocol
                .encode(&HubMessage::Completion {
                    invocation_id,
                    result,
                    headers: Headers::new(),
                })
                .ok()
                .map(Bytes::from)
        };
        while let Some(event) = rx.recv().await {
            let (category, name, body, content_type, invocation_id) = match event {
                UpstreamEvent::Connected => (
                    "connections",
                    "connected".to_string(),
                    Bytes::from_static(br#"{"type":10}"#),
                    "application/json",
                    None,
                ),
                UpstreamEvent::Disconnected { error } => {
                    let mut body = json!({ "type": 11 });
                    if let Some(error) = error {
                        body["error"] = Value::String(error);
                    }
                    (
                        "connections",
                        "disconnected".to_string(),
                        Bytes::from(body.to_string()),
                        "application/json",
                        None,
                    )
                }
                UpstreamEvent::Message {
                    target,
                    invocation_id,
                    payload,
                } => {
                    let content_type = match protocol {
                        HubProtocol::Json => "application/json",
                        HubProtocol::MessagePack => "application/x-msgpack",
                    };
                    ("messages", target, payload, content_type, invocation_id)
                }
            };
            let Some(url) = inner
                .config
                .upstream
                .get()
                .url_for(&info.hub, category, &name)
            else {
                tracing::debug!(category, event = %name, "no upstream template matches; event not sent");
                if let Some(id) = invocation_id {
                    let error = format!("Invocation failed, no upstream is set for '{name}'.");
                    if let Some(reply) = completion(id, CompletionResult::Error(error)) {
                        let _ = replies.send(reply).await;
                    }
                }
                continue;
            };
            let mut request_headers = headers.clone();
            request_headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            request_headers.insert(
                HeaderName::from_static("x-asrs-category"),
                HeaderValue::from_static(category),
            );
            if let Ok(v) = HeaderValue::from_bytes(name.as_bytes()) {
                request_headers.insert(HeaderName::from_static("x-asrs-event"), v);
            }
            let sent = inner
                .http
                .post(&url)
                .headers(request_headers)
                .body(body)
                .send()
                .await;
            let outcome: Result<Option<Bytes>, String> = match sent {
                Ok(response) => {
                    let status = response.status();
                    if !(status == reqwest::StatusCode::OK
                        || status == reqwest::StatusCode::NO_CONTENT)
                    {
                        tracing::warn!(%status, category, event = %name, "upstream answered unexpectedly");
                    }
                    match (&invocation_id, status.as_u16()) {
                        (None, _) => Ok(None),
                        (Some(_), 200) => match read_limited(response, MAX_RESPONSE).await {
                            Ok(b) if b.is_empty() => Ok(None),
                            Ok(b) if is_hub_messages(protocol, &b) => Ok(Some(Bytes::from(b))),
                            Ok(_) => Err(format!(
                                "Invocation failed, the upstream's answer is not a {} hub message.",
                                protocol.name()
                            )),
                            Err(e) => Err(e),
                        },
                        (Some(_), 204) => Ok(None),
                        (Some(_), code) => Err(format!("Invocation failed, status code {code}")),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), category, event = %name, "upstream unreachable");
                    Err("Invocation failed, the upstream is unreachable.".into())
                }
            };
            let Some(invocation_id) = invocation_id else {
                continue;
            };
            let reply = match outcome {
                Ok(Some(raw)) => Some(raw),
                Ok(None) => completion(invocation_id, CompletionResult::Void),
                Err(error) => completion(invocation_id, CompletionResult::Error(error)),
            };
            if let Some(reply) = reply {
                let _ = replies.send(reply).await;
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published vector.
        assert_eq!(
            signature("key", "The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn client_context_drops_the_access_token_and_lists_claims() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"asrs.s.uid":"alice","role":["a","b"],"exp":5}"#);
        let token = format!("e30.{payload}.sig");
        let context = ClientContext::new(
            Some(&token),
            Some("hub=chat&id=tok&access_token=secret&x=1"),
        );
        assert_eq!(
            context.claims.as_deref(),
            Some("asrs.s.uid: alice, role: a, role: b, exp: 5")
        );
        assert_eq!(context.query.as_deref(), Some("?hub=chat&id=tok&x=1"));
        assert_eq!(ClientContext::new(None, Some("access_token=x")).query, None);
    }
}
