//! Request bodies of the send operations: the JSON message, or 2022-06-01's binary payload map.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, StatusCode};
use serde_json::Value;

use super::errors::ApiError;
use crate::emulator::state::Outgoing;
use crate::protocol::{HubMessage, HubProtocol, Invocation};

/// The largest REST request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// Binds `{"target", "arguments"}` with case-insensitive property names.
pub(super) fn parse_message(body: &[u8]) -> Result<(String, Vec<Value>), ApiError> {
    let rule = "a send needs a JSON body with a non-empty \"target\"";
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(rule));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::bad_request(
            "request body must be a JSON object {\"target\", \"arguments\"}",
        ));
    };
    let mut target = None;
    let mut arguments = Vec::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("target") {
            match v {
                Value::String(s) => target = Some(s),
                Value::Null => {}
                _ => return Err(ApiError::bad_request("\"target\" must be a string")),
            }
        } else if k.eq_ignore_ascii_case("arguments") {
            match v {
                Value::Array(a) => arguments = a,
                Value::Null => {}
                _ => return Err(ApiError::bad_request("\"arguments\" must be an array")),
            }
        }
    }
    match target {
        Some(t) if !t.trim().is_empty() => Ok((t, arguments)),
        _ => Err(ApiError::bad_request(rule)),
    }
}

/// Whether a 2022-06-01 send body is the per-protocol payload map (`application/x-msgpack` or
/// `application/octet-stream`, the latter being what the .NET SDK sends) rather than JSON.
pub(super) fn is_binary_body(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = value.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/x-msgpack")
        || media.eq_ignore_ascii_case("application/octet-stream")
}

/// Decodes a binary send body: a MessagePack map from protocol name (`json`, `messagepack`;
/// str) to that protocol's complete serialized invocation (bin), as the .NET SDK's
/// `BinaryPayloadMessageContent` writes it. Each client then gets its protocol's bytes as
/// they are; a client whose protocol has no payload gets nothing (the SDK writes one payload
/// per protocol it was configured with and expects no conversion between them). Other
/// protocol names are skipped.
pub(super) fn parse_payloads(body: &[u8]) -> Result<Arc<Outgoing>, ApiError> {
    use rmp::decode;
    let shape = "a binary send body must be a MessagePack map from protocol name (str) to \
                 serialized invocation (bin)";
    let bad = |what: String| ApiError::bad_request(format!("{shape}: {what}"));
    let mut rd = body;
    let entries = decode::read_map_len(&mut rd).map_err(|e| bad(format!("no map header ({e})")))?;
    fn take<'a>(rd: &mut &'a [u8], len: u32) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let value = rd.get(..len)?;
        *rd = &rd[len..];
        Some(value)
    }
    let truncated = || bad("truncated".into());
    let mut payloads: [Option<&[u8]>; 2] = [None, None];
    for _ in 0..entries {
        let len = decode::read_str_len(&mut rd)
            .map_err(|e| bad(format!("a key is not a string ({e})")))?;
        let name = take(&mut rd, len).ok_or_else(truncated)?;
        let len = decode::read_bin_len(&mut rd)
            .map_err(|e| bad(format!("a payload is not binary ({e})")))?;
        let payload = take(&mut rd, len).ok_or_else(truncated)?;
        let protocol = std::str::from_utf8(name)
            .ok()
            .and_then(HubProtocol::from_name);
        let slot = match protocol {
            Some(HubProtocol::Json) => &mut payloads[0],
            Some(HubProtocol::MessagePack) => &mut payloads[1],
            None => continue,
        };
        if slot.replace(payload).is_some() {
            return Err(bad(format!(
                "protocol '{}' appears twice",
                String::from_utf8_lossy(name)
            )));
        }
    }
    if !rd.is_empty() {
        return Err(bad(format!("{} bytes after the map", rd.len())));
    }
    let [json, msgpack] = payloads;
    if json.is_none() && msgpack.is_none() {
        return Err(ApiError::bad_request(
            "a binary send body needs a 'json' or a 'messagepack' payload",
        ));
    }
    // Each payload must be exactly one invocation, so a client's stream stays well formed.
    let invocation = |protocol: HubProtocol, bytes: &[u8]| -> Result<Invocation, ApiError> {
        let name = protocol.name();
        match protocol.decode_all(bytes) {
            Ok(mut messages) if messages.len() == 1 => match messages.pop() {
                Some(HubMessage::Invocation(inv)) if !inv.target.trim().is_empty() => Ok(inv),
                Some(HubMessage::Invocation(_)) => Err(ApiError::bad_request(format!(
                    "the '{name}' payload's invocation needs a non-empty target"
                ))),
                _ => Err(ApiError::bad_request(format!(
                    "the '{name}' payload must be an invocation message"
                ))),
            },
            Ok(messages) => Err(ApiError::bad_request(format!(
                "the '{name}' payload must hold exactly one message (found {})",
                messages.len()
            ))),
            Err(e) => Err(ApiError::bad_request(format!(
                "the '{name}' payload is not a valid {name} hub message: {e}"
            ))),
        }
    };
    let from_json = json.map(|b| invocation(HubProtocol::Json, b)).transpose()?;
    let from_msgpack = msgpack
        .map(|b| invocation(HubProtocol::MessagePack, b))
        .transpose()?;
    // The delivery record shows the JSON view when there is one.
    let Some(shown) = from_json.or(from_msgpack) else {
        return Err(ApiError::bad_request("no payload"));
    };
    Ok(Outgoing::pre_encoded(
        shown.target,
        shown.arguments,
        json.map(bytes::Bytes::copy_from_slice),
        msgpack.map(bytes::Bytes::copy_from_slice),
    ))
}

pub(super) async fn read_body(
    body: Body,
    headers: &axum::http::HeaderMap,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("request body exceeds the limit of {MAX_BODY} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_binding_is_case_insensitive() {
        let (t, a) = parse_message(br#"{"Target":"go","Arguments":[1,"x"]}"#)
            .ok()
            .unwrap();
        assert_eq!(t, "go");
        assert_eq!(a, vec![json!(1), json!("x")]);
        assert!(parse_message(br#"{"target":""}"#).is_err());
        assert!(parse_message(b"").is_err());
        assert!(parse_message(b"{").is_err());
        assert!(parse_message(br#"{"target":"a","arguments":{}}"#).is_err());
    }
}
