//! Forwarding client events to the app's upstream URL, one ordered worker per connection.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

use super::state::Inner;
use super::ConnectionInfo;
use crate::protocol::{CompletionResult, Headers, HubMessage, Invocation};

/// Events waiting for one connection's upstream; more are dropped with a warning.
const UPSTREAM_QUEUE: usize = 64;

#[derive(Debug)]
pub(crate) enum UpstreamEvent {
    Connected,
    Disconnected,
    Message(Invocation),
}

/// `sha256=<hex HMAC-SHA256(access key, connection id)>`.
pub(crate) fn signature(key: &str, connection_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key size");
    mac.update(connection_id.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn expand(template: &url::Url, hub: &str, category: &str, event: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    template
        .as_str()
        .replace("%7Bhub%7D", &enc(hub))
        .replace("{hub}", &enc(hub))
        .replace("%7Bcategory%7D", category)
        .replace("{category}", category)
        .replace("%7Bevent%7D", &enc(event))
        .replace("{event}", &enc(event))
}

/// Starts the worker for one connection; completions for invocations with an id come back
/// on `replies`.
pub(crate) fn spawn(
    inner: Arc<Inner>,
    base: url::Url,
    info: ConnectionInfo,
    replies: mpsc::Sender<HubMessage>,
) -> mpsc::Sender<UpstreamEvent> {
    let (tx, mut rx) = mpsc::channel::<UpstreamEvent>(UPSTREAM_QUEUE);
    tokio::spawn(async move {
        let signature = signature(&inner.config.access_key, &info.connection_id);
        while let Some(event) = rx.recv().await {
            let (category, name, body, invocation_id) = match &event {
                UpstreamEvent::Connected => {
                    ("connections", "connected".to_string(), json!({}), None)
                }
                UpstreamEvent::Disconnected => {
                    ("connections", "disconnected".to_string(), json!({}), None)
                }
                UpstreamEvent::Message(inv) => {
                    let mut body = json!({
                        "type": 1,
                        "target": inv.target,
                        "arguments": inv.arguments,
                    });
                    if let Some(id) = &inv.invocation_id {
                        body["invocationId"] = Value::String(id.clone());
                    }
                    (
                        "messages",
                        inv.target.clone(),
                        body,
                        inv.invocation_id.clone(),
                    )
                }
            };
            let url = expand(&base, &info.hub, category, &name);
            let mut request = inner
                .http
                .post(&url)
                .header("X-ASRS-Connection-Id", &info.connection_id)
                .header("X-ASRS-Hub", &info.hub)
                .header("X-ASRS-Category", category)
                .header("X-ASRS-Event", &name)
                .header("X-ASRS-Signature", &signature)
                .json(&body);
            if let Some(user) = &info.user_id {
                request = request.header("X-ASRS-User-Id", user);
            }
            let outcome = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let text = response.text().await.unwrap_or_default();
                    if text.trim().is_empty() {
                        CompletionResult::Void
                    } else {
                        CompletionResult::Value(
                            serde_json::from_str(&text).unwrap_or(Value::String(text)),
                        )
                    }
                }
                Ok(response) => {
                    tracing::warn!(status = %response.status(), category, event = %name, "upstream refused an event");
                    CompletionResult::Error(format!("upstream answered {}", response.status()))
                }
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), category, event = %name, "upstream unreachable");
                    CompletionResult::Error("upstream unreachable".into())
                }
            };
            if let Some(invocation_id) = invocation_id {
                let _ = replies
                    .send(HubMessage::Completion {
                        invocation_id,
                        result: outcome,
                        headers: Headers::new(),
                    })
                    .await;
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hex_hmac_sha256() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published vector.
        assert_eq!(
            super::signature("key", "The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
