//! The `messagepack` hub protocol: each message is a varint length prefix followed by a
//! MessagePack array whose first element is the message type.

use base64::Engine as _;
use rmpv::Value as Mp;
use serde_json::{Number, Value};

use super::{CompletionResult, Headers, HubMessage, Invocation, ProtocolError, MAX_NESTING};

/// A length prefix is at most 5 bytes (lengths up to 2^31 - 1).
const MAX_PREFIX_BYTES: usize = 5;

const RESULT_ERROR: u64 = 1;
const RESULT_VOID: u64 = 2;
const RESULT_VALUE: u64 = 3;

/// Converts a JSON value to its MessagePack form.
pub(super) fn to_msgpack(value: &Value) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                Mp::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(a) => Mp::Array(a.iter().map(to_msgpack).collect()),
        Value::Object(o) => Mp::Map(
            o.iter()
                .map(|(k, v)| (Mp::from(k.as_str()), to_msgpack(v)))
                .collect(),
        ),
    }
}

/// Converts a MessagePack value to JSON. Binary becomes a base64 string (as .NET does for
/// byte arrays); non-finite floats become `null`; extension types are refused.
pub(super) fn to_json(value: Mp) -> Result<Value, ProtocolError> {
    Ok(match value {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(s)) => Value::from(s),
            (None, None) => return Err(ProtocolError::malformed("integer out of range")),
        },
        Mp::F32(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Mp::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Mp::String(s) => Value::String(
            s.into_str()
                .ok_or_else(|| ProtocolError::malformed("string is not valid UTF-8"))?,
        ),
        Mp::Binary(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Mp::Array(a) => Value::Array(a.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Mp::Map(m) => {
            let mut obj = serde_json::Map::with_capacity(m.len());
            for (k, v) in m {
                let key = match k {
                    Mp::String(s) => s
                        .into_str()
                        .ok_or_else(|| ProtocolError::malformed("map key is not valid UTF-8"))?,
                    Mp::Integer(i) => i.to_string(),
                    _ => return Err(ProtocolError::malformed("map keys must be strings")),
                };
                obj.insert(key, to_json(v)?);
            }
            Value::Object(obj)
        }
        Mp::Ext(kind, _) => {
            return Err(ProtocolError::malformed(format!(
                "MessagePack extension type {kind} is not supported"
            )))
        }
    })
}

fn headers_value(headers: &Headers) -> Mp {
    Mp::Map(
        headers
            .iter()
            .map(|(k, v)| (Mp::from(k.as_str()), Mp::from(v.as_str())))
            .collect(),
    )
}

fn opt_str(s: Option<&str>) -> Mp {
    s.map_or(Mp::Nil, Mp::from)
}

fn invocation_value(kind: u8, inv: &Invocation) -> Mp {
    Mp::Array(vec![
        Mp::from(kind),
        headers_value(&inv.headers),
        opt_str(inv.invocation_id.as_deref()),
        Mp::from(inv.target.as_str()),
        Mp::Array(inv.arguments.iter().map(to_msgpack).collect()),
        Mp::Array(
            inv.stream_ids
                .iter()
                .map(|s| Mp::from(s.as_str()))
                .collect(),
        ),
    ])
}

pub(super) fn encode(message: &HubMessage) -> Result<Vec<u8>, ProtocolError> {
    let kind = message.type_id();
    let value = match message {
        HubMessage::Invocation(inv) | HubMessage::StreamInvocation(inv) => {
            invocation_value(kind, inv)
        }
        HubMessage::StreamItem {
            invocation_id,
            item,
            headers,
        } => Mp::Array(vec![
            Mp::from(kind),
            headers_value(headers),
            Mp::from(invocation_id.as_str()),
            to_msgpack(item),
        ]),
        HubMessage::Completion {
            invocation_id,
            result,
            headers,
        } => {
            let mut items = vec![
                Mp::from(kind),
                headers_value(headers),
                Mp::from(invocation_id.as_str()),
            ];
            match result {
                CompletionResult::Error(e) => {
                    items.push(Mp::from(RESULT_ERROR));
                    items.push(Mp::from(e.as_str()));
                }
                CompletionResult::Void => items.push(Mp::from(RESULT_VOID)),
                CompletionResult::Value(v) => {
                    items.push(Mp::from(RESULT_VALUE));
                    items.push(to_msgpack(v));
                }
            }
            Mp::Array(items)
        }
        HubMessage::CancelInvocation {
            invocation_id,
            headers,
        } => Mp::Array(vec![
            Mp::from(kind),
            headers_value(headers),
            Mp::from(invocation_id.as_str()),
        ]),
        HubMessage::Ping => Mp::Array(vec![Mp::from(kind)]),
        HubMessage::Close {
            error,
            allow_reconnect,
        } => Mp::Array(vec![
            Mp::from(kind),
            opt_str(error.as_deref()),
            Mp::Boolean(*allow_reconnect),
        ]),
        HubMessage::Ack { sequence_id } | HubMessage::Sequence { sequence_id } => {
            Mp::Array(vec![Mp::from(kind), Mp::from(*sequence_id)])
        }
    };
    let mut body = Vec::new();
    rmpv::encode::write_value(&mut body, &value)
        .map_err(|e| ProtocolError::Unencodable(e.to_string()))?;
    if body.len() > i32::MAX as usize {
        return Err(ProtocolError::Unencodable(
            "message longer than a length prefix can describe".into(),
        ));
    }
    let mut out = Vec::with_capacity(body.len() + MAX_PREFIX_BYTES);
    write_varint(&mut out, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a length prefix: `Ok(None)` when incomplete, else (length, prefix size).
fn read_varint(buffer: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
    let mut length = 0usize;
    for (i, &byte) in buffer.iter().enumerate().take(MAX_PREFIX_BYTES) {
        length |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i == MAX_PREFIX_BYTES - 1 && byte > 0x07 {
                return Err(ProtocolError::malformed("length prefix exceeds 2^31 - 1"));
            }
            return Ok(Some((length, i + 1)));
        }
    }
    if buffer.len() >= MAX_PREFIX_BYTES {
        return Err(ProtocolError::malformed(
            "length prefix longer than 5 bytes",
        ));
    }
    Ok(None)
}

/// The body of one complete, already decoded record (its bytes after the length prefix).
pub(super) fn record_body(record: &[u8]) -> &[u8] {
    match read_varint(record) {
        Ok(Some((length, prefix))) if prefix + length <= record.len() => {
            &record[prefix..prefix + length]
        }
        _ => record,
    }
}

/// Decodes the first complete record in `data`; returns it with the bytes it used.
pub(super) fn take_record(
    data: &[u8],
    max_size: usize,
) -> Result<Option<(HubMessage, usize)>, ProtocolError> {
    let Some((length, prefix)) = read_varint(data)? else {
        return Ok(None);
    };
    if length > max_size {
        return Err(ProtocolError::TooLarge {
            size: length,
            limit: max_size,
        });
    }
    if data.len() < prefix + length {
        return Ok(None);
    }
    decode(&data[prefix..prefix + length]).map(|m| Some((m, prefix + length)))
}

fn decode(record: &[u8]) -> Result<HubMessage, ProtocolError> {
    let mut reader = record;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_NESTING)
        .map_err(|e| ProtocolError::malformed(format!("invalid MessagePack: {e}")))?;
    if !reader.is_empty() {
        return Err(ProtocolError::malformed(
            "trailing bytes after the MessagePack array",
        ));
    }
    let Mp::Array(items) = value else {
        return Err(ProtocolError::malformed(
            "a message must be a MessagePack array",
        ));
    };
    let mut items = items.into_iter();
    let kind = items
        .next()
        .and_then(|v| v.as_i64())
        .ok_or_else(|| ProtocolError::malformed("missing integer message type"))?;
    let mut fields = Fields { items };
    Ok(match kind {
        1 | 4 => {
            let headers = fields.headers()?;
            let invocation_id = fields.opt_string("invocationId")?;
            let target = fields.string("target")?;
            let arguments = match fields.next() {
                Some(Mp::Array(a)) => a.into_iter().map(to_json).collect::<Result<_, _>>()?,
                _ => return Err(ProtocolError::malformed("'arguments' must be an array")),
            };
            let stream_ids = match fields.next() {
                None | Some(Mp::Nil) => Vec::new(),
                Some(Mp::Array(a)) => a
                    .into_iter()
                    .map(|v| match v {
                        Mp::String(s) => s
                            .into_str()
                            .ok_or_else(|| ProtocolError::malformed("stream id is not UTF-8")),
                        _ => Err(ProtocolError::malformed("'streamIds' must hold strings")),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(ProtocolError::malformed("'streamIds' must be an array")),
            };
            let inv = Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
            };
            if kind == 1 {
                HubMessage::Invocation(inv)
            } else {
                HubMessage::StreamInvocation(inv)
            }
        }
        2 => HubMessage::StreamItem {
            headers: fields.headers()?,
            invocation_id: fields.string("invocationId")?,
            item: to_json(fields.next().unwrap_or(Mp::Nil))?,
        },
        3 => {
            let headers = fields.headers()?;
            let invocation_id = fields.string("invocationId")?;
            let result_kind = fields
                .next()
                .and_then(|v| v.as_u64())
                .ok_or_else(|| ProtocolError::malformed("missing completion result kind"))?;
            let result = match result_kind {
                RESULT_ERROR => CompletionResult::Error(fields.string("error")?),
                RESULT_VOID => CompletionResult::Void,
                RESULT_VALUE => CompletionResult::Value(to_json(
                    fields
                        .next()
                        .ok_or_else(|| ProtocolError::malformed("missing completion result"))?,
                )?),
                other => {
                    return Err(ProtocolError::malformed(format!(
                        "unknown completion result kind {other}"
                    )))
                }
            };
            HubMessage::Completion {
                invocation_id,
                result,
                headers,
            }
        }
        5 => HubMessage::CancelInvocation {
            headers: fields.headers()?,
            invocation_id: fields.string("invocationId")?,
        },
        6 => HubMessage::Ping,
        7 => HubMessage::Close {
            error: fields.opt_string("error")?,
            allow_reconnect: match fields.next() {
                None | Some(Mp::Nil) => false,
                Some(Mp::Boolean(b)) => b,
                Some(_) => {
                    return Err(ProtocolError::malformed(
                        "'allowReconnect' must be a boolean",
                    ))
                }
            },
        },
        8 => HubMessage::Ack {
            sequence_id: fields.u64("sequenceId")?,
        },
        9 => HubMessage::Sequence {
            sequence_id: fields.u64("sequenceId")?,
        },
        other => return Err(ProtocolError::UnknownType(other)),
    })
}

struct Fields {
    items: std::vec::IntoIter<Mp>,
}

impl Fields {
    fn next(&mut self) -> Option<Mp> {
        self.items.next()
    }

    fn headers(&mut self) -> Result<Headers, ProtocolError> {
        match self.next() {
            Some(Mp::Map(m)) => m
                .into_iter()
                .map(|(k, v)| match (k, v) {
                    (Mp::String(k), Mp::String(v)) => match (k.into_str(), v.into_str()) {
                        (Some(k), Some(v)) => Ok((k, v)),
                        _ => Err(ProtocolError::malformed("header is not valid UTF-8")),
                    },
                    _ => Err(ProtocolError::malformed(
                        "headers must map strings to strings",
                    )),
                })
                .collect(),
            Some(Mp::Nil) => Ok(Headers::new()),
            _ => Err(ProtocolError::malformed("missing headers map")),
        }
    }

    fn opt_string(&mut self, name: &str) -> Result<Option<String>, ProtocolError> {
        match self.next() {
            None | Some(Mp::Nil) => Ok(None),
            Some(Mp::String(s)) => s
                .into_str()
                .map(Some)
                .ok_or_else(|| ProtocolError::malformed(format!("'{name}' is not valid UTF-8"))),
            Some(_) => Err(ProtocolError::malformed(format!(
                "'{name}' must be a string"
            ))),
        }
    }

    fn string(&mut self, name: &str) -> Result<String, ProtocolError> {
        self.opt_string(name)?
            .ok_or_else(|| ProtocolError::malformed(format!("missing string '{name}'")))
    }

    fn u64(&mut self, name: &str) -> Result<u64, ProtocolError> {
        self.next()
            .and_then(|v| v.as_u64())
            .ok_or_else(|| ProtocolError::malformed(format!("missing integer '{name}'")))
    }
}
