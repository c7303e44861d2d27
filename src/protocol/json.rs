//! The `json` hub protocol: each message is a JSON object followed by 0x1E.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{
    CompletionResult, Headers, HubMessage, Invocation, ProtocolError, MAX_NESTING, RECORD_SEPARATOR,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvocationOut<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    headers: &'a Headers,
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_id: Option<&'a str>,
    target: &'a str,
    arguments: &'a [Value],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stream_ids: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamItemOut<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    headers: &'a Headers,
    invocation_id: &'a str,
    item: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompletionOut<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    headers: &'a Headers,
    invocation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelOut<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    headers: &'a Headers,
    invocation_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloseOut<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    allow_reconnect: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SequenceOut {
    #[serde(rename = "type")]
    kind: u8,
    sequence_id: u64,
}

#[derive(Serialize)]
struct PingOut {
    #[serde(rename = "type")]
    kind: u8,
}

fn invocation_out(kind: u8, inv: &Invocation) -> InvocationOut<'_> {
    InvocationOut {
        kind,
        headers: &inv.headers,
        invocation_id: inv.invocation_id.as_deref(),
        target: &inv.target,
        arguments: &inv.arguments,
        stream_ids: &inv.stream_ids,
    }
}

pub(super) fn encode(message: &HubMessage) -> Result<Vec<u8>, ProtocolError> {
    let kind = message.type_id();
    let encoded = match message {
        HubMessage::Invocation(inv) | HubMessage::StreamInvocation(inv) => {
            serde_json::to_vec(&invocation_out(kind, inv))
        }
        HubMessage::StreamItem {
            invocation_id,
            item,
            headers,
        } => serde_json::to_vec(&StreamItemOut {
            kind,
            headers,
            invocation_id,
            item,
        }),
        HubMessage::Completion {
            invocation_id,
            result,
            headers,
        } => {
            let (result, error) = match result {
                CompletionResult::Void => (None, None),
                CompletionResult::Value(v) => (Some(v), None),
                CompletionResult::Error(e) => (None, Some(e.as_str())),
            };
            serde_json::to_vec(&CompletionOut {
                kind,
                headers,
                invocation_id,
                result,
                error,
            })
        }
        HubMessage::CancelInvocation {
            invocation_id,
            headers,
        } => serde_json::to_vec(&CancelOut {
            kind,
            headers,
            invocation_id,
        }),
        HubMessage::Ping => serde_json::to_vec(&PingOut { kind }),
        HubMessage::Close {
            error,
            allow_reconnect,
        } => serde_json::to_vec(&CloseOut {
            kind,
            error: error.as_deref(),
            allow_reconnect: *allow_reconnect,
        }),
        HubMessage::Ack { sequence_id } | HubMessage::Sequence { sequence_id } => {
            serde_json::to_vec(&SequenceOut {
                kind,
                sequence_id: *sequence_id,
            })
        }
    };
    let mut out = encoded.map_err(|e| ProtocolError::Unencodable(e.to_string()))?;
    out.push(RECORD_SEPARATOR);
    Ok(out)
}

/// Decodes the first complete record in `data`; returns it with the bytes it used.
pub(super) fn take_record(
    data: &[u8],
    max_size: usize,
) -> Result<Option<(HubMessage, usize)>, ProtocolError> {
    let Some(end) = data.iter().position(|&b| b == RECORD_SEPARATOR) else {
        return Ok(None);
    };
    if end > max_size {
        return Err(ProtocolError::TooLarge {
            size: end,
            limit: max_size,
        });
    }
    decode(&data[..end]).map(|m| Some((m, end + 1)))
}

/// The top-level properties a hub message may carry; any others are skipped unread.
///
/// Decoding into this instead of a map of every property spares a hash map per message;
/// each property is kept as it was sent (present `null` included) and checked below.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Properties {
    #[serde(rename = "type", deserialize_with = "present")]
    kind: Option<Value>,
    #[serde(deserialize_with = "present")]
    invocation_id: Option<Value>,
    #[serde(deserialize_with = "present")]
    target: Option<Value>,
    #[serde(deserialize_with = "present")]
    arguments: Option<Value>,
    #[serde(deserialize_with = "present")]
    stream_ids: Option<Value>,
    #[serde(deserialize_with = "present")]
    headers: Option<Value>,
    #[serde(deserialize_with = "present")]
    item: Option<Value>,
    #[serde(deserialize_with = "present")]
    result: Option<Value>,
    #[serde(deserialize_with = "present")]
    error: Option<Value>,
    #[serde(deserialize_with = "present")]
    allow_reconnect: Option<Value>,
    #[serde(deserialize_with = "present")]
    sequence_id: Option<Value>,
}

/// A property that is present, `null` included (plain `Option` would read `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Properties {
    /// Nesting depth of the message, the object itself counting as 1.
    fn depth(&self) -> usize {
        // Destructured so that a property added to the struct cannot escape the check.
        let Properties {
            kind,
            invocation_id,
            target,
            arguments,
            stream_ids,
            headers,
            item,
            result,
            error,
            allow_reconnect,
            sequence_id,
        } = self;
        depth(
            [
                kind,
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
                item,
                result,
                error,
                allow_reconnect,
                sequence_id,
            ]
            .into_iter()
            .flatten(),
        )
    }
}

fn decode(record: &[u8]) -> Result<HubMessage, ProtocolError> {
    // A struct would also accept a JSON array (by position): only objects are messages.
    if record.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(record) {
                Err(e) => ProtocolError::malformed(format!("invalid JSON: {e}")),
                Ok(_) => ProtocolError::malformed("a message must be a JSON object"),
            },
        );
    }
    let mut p: Properties = serde_json::from_slice(record)
        .map_err(|e| ProtocolError::malformed(format!("invalid JSON: {e}")))?;
    if p.depth() > MAX_NESTING {
        return Err(ProtocolError::malformed("message nests too deeply"));
    }
    let kind = p
        .kind
        .as_ref()
        .and_then(Value::as_i64)
        .ok_or_else(|| ProtocolError::malformed("missing integer property 'type'"))?;
    let headers = headers(p.headers.take())?;
    Ok(match kind {
        1 | 4 => {
            let inv = Invocation {
                invocation_id: opt_string(&p.invocation_id, "invocationId")?,
                target: req_string(&p.target, "target")?,
                arguments: match p.arguments.take() {
                    Some(Value::Array(a)) => a,
                    None => Vec::new(),
                    Some(_) => {
                        return Err(ProtocolError::malformed("'arguments' must be an array"))
                    }
                },
                stream_ids: match p.stream_ids.take() {
                    Some(Value::Array(a)) => a
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s),
                            _ => Err(ProtocolError::malformed("'streamIds' must hold strings")),
                        })
                        .collect::<Result<_, _>>()?,
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => {
                        return Err(ProtocolError::malformed("'streamIds' must be an array"))
                    }
                },
                headers,
            };
            if kind == 1 {
                HubMessage::Invocation(inv)
            } else {
                HubMessage::StreamInvocation(inv)
            }
        }
        2 => HubMessage::StreamItem {
            invocation_id: req_string(&p.invocation_id, "invocationId")?,
            item: p.item.take().unwrap_or(Value::Null),
            headers,
        },
        3 => {
            let invocation_id = req_string(&p.invocation_id, "invocationId")?;
            let result = match (opt_string(&p.error, "error")?, p.result.take()) {
                (Some(e), _) => CompletionResult::Error(e),
                (None, Some(v)) => CompletionResult::Value(v),
                (None, None) => CompletionResult::Void,
            };
            HubMessage::Completion {
                invocation_id,
                result,
                headers,
            }
        }
        5 => HubMessage::CancelInvocation {
            invocation_id: req_string(&p.invocation_id, "invocationId")?,
            headers,
        },
        6 => HubMessage::Ping,
        7 => HubMessage::Close {
            error: opt_string(&p.error, "error")?,
            allow_reconnect: match &p.allow_reconnect {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ProtocolError::malformed(
                        "'allowReconnect' must be a boolean",
                    ))
                }
            },
        },
        8 => HubMessage::Ack {
            sequence_id: req_u64(&p.sequence_id, "sequenceId")?,
        },
        9 => HubMessage::Sequence {
            sequence_id: req_u64(&p.sequence_id, "sequenceId")?,
        },
        other => return Err(ProtocolError::UnknownType(other)),
    })
}

/// Nesting depth of an object holding `values`, the object counting as 1; computed without
/// recursion so hostile input cannot overflow the stack (serde_json already bounds parsing
/// depth; this bounds what we hand on).
fn depth<'a>(values: impl Iterator<Item = &'a Value>) -> usize {
    let mut max = 1;
    let mut stack: Vec<(&Value, usize)> = values.map(|v| (v, 2)).collect();
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    max
}

fn headers(value: Option<Value>) -> Result<Headers, ProtocolError> {
    match value {
        None | Some(Value::Null) => Ok(Headers::new()),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(ProtocolError::malformed("header values must be strings")),
            })
            .collect(),
        Some(_) => Err(ProtocolError::malformed("'headers' must be an object")),
    }
}

fn opt_string(value: &Option<Value>, key: &str) -> Result<Option<String>, ProtocolError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ProtocolError::malformed(format!(
            "'{key}' must be a string"
        ))),
    }
}

fn req_string(value: &Option<Value>, key: &str) -> Result<String, ProtocolError> {
    opt_string(value, key)?
        .ok_or_else(|| ProtocolError::malformed(format!("missing string property '{key}'")))
}

fn req_u64(value: &Option<Value>, key: &str) -> Result<u64, ProtocolError> {
    value
        .as_ref()
        .and_then(Value::as_u64)
        .ok_or_else(|| ProtocolError::malformed(format!("missing integer property '{key}'")))
}
