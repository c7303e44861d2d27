//! Messages and the local validation rules the service applies to names and bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Error;
use super::version::Operation;

/// Largest REST request body the service accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest hub (and application) name.
pub const MAX_HUB_NAME_CHARS: usize = 128;
/// Longest group name.
pub const MAX_GROUP_NAME_CHARS: usize = 1024;

/// A hub-method invocation to deliver to clients: the client-side method (`target`) and its
/// arguments (any JSON values).
///
/// ```
/// use azure_signalr_rest::Message;
///
/// #[derive(serde::Serialize)]
/// struct Chat { from: String, text: String }
///
/// let m = Message::new("newMessage", ("alice", 42, Chat { from: "a".into(), text: "hi".into() })).unwrap();
/// assert_eq!(m.arguments.len(), 3);
/// assert_eq!(m.arguments[2]["text"], "hi");
///
/// // Arguments must serialize as a sequence (a tuple, array or Vec).
/// assert!(Message::new("x", "not a list").is_err());
/// ```
///
/// A message can also carry its invocation already serialized for each hub protocol
/// ([`Message::from_payloads`]); then clients of each protocol receive those bytes as they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The client-side method to invoke.
    pub target: String,
    /// Its arguments.
    pub arguments: Vec<Value>,
    /// Pre-serialized invocations, one per hub protocol (not part of the JSON form).
    #[serde(skip)]
    payloads: Option<Payloads>,
}

/// One serialized invocation per hub protocol: the binary send body's content.
#[derive(Clone, PartialEq)]
struct Payloads {
    json: Option<Vec<u8>>,
    messagepack: Option<Vec<u8>>,
}

impl std::fmt::Debug for Payloads {
    // Sizes only: a payload may be large, and its bytes say little in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payloads")
            .field("json_bytes", &self.json.as_ref().map(Vec::len))
            .field(
                "messagepack_bytes",
                &self.messagepack.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// The content type of the binary send body (what the .NET server SDK sends).
pub(crate) const PAYLOADS_CONTENT_TYPE: &str = "application/octet-stream";

impl Message {
    /// A message whose arguments are `arguments` serialized: a tuple, array, slice or `Vec` of
    /// anything serde can serialize.
    ///
    /// ```
    /// use azure_signalr_rest::Message;
    /// let m = Message::new("add", [1, 2]).unwrap();
    /// assert_eq!(m.arguments, vec![serde_json::json!(1), serde_json::json!(2)]);
    /// assert!(Message::new("none", ()).unwrap().arguments.is_empty());
    /// ```
    pub fn new(target: impl Into<String>, arguments: impl Serialize) -> Result<Message, Error> {
        let target = target.into();
        match serde_json::to_value(arguments) {
            Ok(Value::Array(arguments)) => Ok(Message::from_values(target, arguments)),
            Ok(Value::Null) => Ok(Message::from_values(target, Vec::new())),
            Ok(_) => Err(Error::invalid(
                Operation::BuildMessage,
                "message arguments",
                "must serialize as a sequence (use a tuple, array or Vec, e.g. `(value,)`)",
            )),
            Err(e) => Err(Error::invalid(
                Operation::BuildMessage,
                "message arguments",
                format!("cannot be serialized: {e}"),
            )),
        }
    }

    /// A message from JSON values.
    ///
    /// ```
    /// use azure_signalr_rest::Message;
    /// let m = Message::from_values("ping", vec![serde_json::json!({"at": 1})]);
    /// assert_eq!(m.target, "ping");
    /// ```
    pub fn from_values(target: impl Into<String>, arguments: Vec<Value>) -> Message {
        Message {
            target: target.into(),
            arguments,
            payloads: None,
        }
    }

    /// A message already serialized for each hub protocol, as the .NET server SDK sends it
    /// when hub protocols are configured: `json` is one complete JSON hub-protocol record
    /// (`{"type":1,"target":...,"arguments":[...]}` followed by the 0x1E separator) and
    /// `messagepack` one complete MessagePack record (varint length prefix, then the
    /// invocation array). Clients of each protocol receive exactly these bytes; a client whose
    /// protocol has no payload receives nothing. Use it for arguments JSON cannot carry (e.g.
    /// MessagePack binary) or to control the bytes exactly.
    ///
    /// `target` names the invocation the payloads encode; it is checked locally and shows in
    /// errors, and [`Message::arguments`] stays empty. The body goes out as
    /// `application/octet-stream`, a MessagePack map from protocol name to payload, which only
    /// API version 2022-06-01 takes: other versions refuse the message before sending.
    ///
    /// ```
    /// use azure_signalr_rest::Message;
    ///
    /// let json = b"{\"type\":1,\"target\":\"blob\",\"arguments\":[\"AQI=\"]}\x1e".to_vec();
    /// // [1, {}, nil, "blob", [bin 01 02], []] with its length prefix (15 bytes).
    /// let msgpack = vec![
    ///     0x0f, 0x96, 0x01, 0x80, 0xc0, 0xa4, b'b', b'l', b'o', b'b', 0x91, 0xc4, 0x02, 0x01, 0x02, 0x90,
    /// ];
    /// let m = Message::from_payloads("blob", Some(json.clone()), Some(msgpack)).unwrap();
    /// assert_eq!(m.json_payload(), Some(&json[..]));
    /// assert!(m.arguments.is_empty());
    ///
    /// // A JSON record must end with the record separator.
    /// assert!(Message::from_payloads("blob", Some(b"{}".to_vec()), None).is_err());
    /// assert!(Message::from_payloads("blob", None, None).is_err());
    /// ```
    pub fn from_payloads(
        target: impl Into<String>,
        json: Option<Vec<u8>>,
        messagepack: Option<Vec<u8>>,
    ) -> Result<Message, Error> {
        let op = Operation::BuildMessage;
        if json.is_none() && messagepack.is_none() {
            return Err(Error::invalid(
                op,
                "message payloads",
                "need a JSON or a MessagePack payload",
            ));
        }
        if let Some(json) = &json
            && (json.last() != Some(&0x1e) || std::str::from_utf8(json).is_err())
        {
            return Err(Error::invalid(
                op,
                "JSON payload",
                "must be one UTF-8 JSON hub-protocol record ending with the 0x1E separator",
            ));
        }
        if messagepack.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid(
                op,
                "MessagePack payload",
                "must be one length-prefixed MessagePack hub-protocol record",
            ));
        }
        Ok(Message {
            target: target.into(),
            arguments: Vec::new(),
            payloads: Some(Payloads { json, messagepack }),
        })
    }

    /// The pre-serialized JSON record of a [`Message::from_payloads`] message.
    pub fn json_payload(&self) -> Option<&[u8]> {
        self.payloads.as_ref()?.json.as_deref()
    }

    /// The pre-serialized MessagePack record of a [`Message::from_payloads`] message.
    pub fn messagepack_payload(&self) -> Option<&[u8]> {
        self.payloads.as_ref()?.messagepack.as_deref()
    }

    /// Whether the message carries pre-serialized payloads ([`Message::from_payloads`]).
    ///
    /// ```
    /// let m = azure_signalr_rest::Message::new("t", (1,)).unwrap();
    /// assert!(!m.is_pre_serialized());
    /// ```
    pub fn is_pre_serialized(&self) -> bool {
        self.payloads.is_some()
    }

    /// The binary send body: a MessagePack map from protocol name (str) to that protocol's
    /// record (bin), the layout of the .NET SDK's `BinaryPayloadMessageContent`.
    pub(crate) fn payloads_body(&self) -> Option<Vec<u8>> {
        let payloads = self.payloads.as_ref()?;
        let entries = [
            ("json", payloads.json.as_deref()),
            ("messagepack", payloads.messagepack.as_deref()),
        ];
        let present = entries.iter().filter(|(_, p)| p.is_some()).count();
        let size = entries
            .iter()
            .map(|(n, p)| n.len() + p.map_or(0, <[u8]>::len) + 10);
        let mut body = Vec::with_capacity(size.sum::<usize>() + 1);
        // Writing to a Vec cannot fail; a payload over 4 GiB cannot be framed (and is far over
        // the body limit), so it makes no body.
        rmp::encode::write_map_len(&mut body, present as u32).ok()?;
        for (name, payload) in entries {
            if let Some(payload) = payload {
                rmp::encode::write_str(&mut body, name).ok()?;
                rmp::encode::write_bin(&mut body, payload).ok()?;
            }
        }
        Some(body)
    }

    /// Checks the rules the service applies to a send body, for `operation`: a non-empty target
    /// and at most [`MAX_BODY_BYTES`] of JSON.
    ///
    /// ```
    /// use azure_signalr_rest::{Message, Operation};
    /// let err = Message::from_values("", vec![]).validate(Operation::Broadcast).unwrap_err();
    /// assert!(err.to_string().contains("target"));
    /// ```
    pub fn validate(&self, operation: Operation) -> Result<(), Error> {
        if self.target.trim().is_empty() {
            return Err(Error::invalid(
                operation,
                "message target",
                "must not be empty or only white space",
            ));
        }
        let (len, kind) = match &self.payloads {
            Some(_) => (
                self.payloads_body().map_or(usize::MAX, |b| b.len()),
                "payloads",
            ),
            None => (
                serde_json::to_vec(self).map_or(usize::MAX, |b| b.len()),
                "JSON",
            ),
        };
        if len > MAX_BODY_BYTES {
            return Err(Error::invalid(
                operation,
                "message body",
                format!("is {len} bytes of {kind}; the service accepts at most {MAX_BODY_BYTES}"),
            ));
        }
        Ok(())
    }
}

/// Checks a hub or application name against the service's rule
/// `^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$`.
///
/// ```
/// use azure_signalr_rest::{validate_hub_name, Operation};
/// assert!(validate_hub_name(Operation::Broadcast, "hub", "chat_1").is_ok());
/// assert!(validate_hub_name(Operation::Broadcast, "hub", "1chat").is_err());
/// assert!(validate_hub_name(Operation::Broadcast, "hub", "chat room").is_err());
/// ```
pub fn validate_hub_name(operation: Operation, subject: &str, name: &str) -> Result<(), Error> {
    let rule = || {
        Error::invalid(
            operation,
            format!("{subject} name `{name}`"),
            format!(
                "must start with a letter and have only letters, digits and _`,.[] \
                 (at most {MAX_HUB_NAME_CHARS} characters)"
            ),
        )
    };
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(rule());
    }
    if name.len() > MAX_HUB_NAME_CHARS
        || !chars.all(|c| c.is_ascii_alphanumeric() || "_`,.[]".contains(c))
    {
        return Err(rule());
    }
    Ok(())
}

/// Checks a group name: 1 to 1024 characters, not only white space.
///
/// ```
/// use azure_signalr_rest::{validate_group_name, Operation};
/// assert!(validate_group_name(Operation::SendToGroup, "room 1 / west").is_ok());
/// assert!(validate_group_name(Operation::SendToGroup, "   ").is_err());
/// ```
pub fn validate_group_name(operation: Operation, name: &str) -> Result<(), Error> {
    let count = name.chars().count();
    if count == 0 || count > MAX_GROUP_NAME_CHARS {
        return Err(Error::invalid(
            operation,
            "group name",
            format!("must be 1 to {MAX_GROUP_NAME_CHARS} characters, got {count}"),
        ));
    }
    if name.trim().is_empty() {
        return Err(Error::invalid(
            operation,
            "group name",
            "must not be only white space",
        ));
    }
    Ok(())
}

/// Checks a user or connection id: it names a path segment, so it cannot be empty; a user id
/// has at most 1024 characters (the published 2022-06-01 rule, checked on every version).
pub(crate) fn validate_id(operation: Operation, subject: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::invalid(operation, subject, "must not be empty"));
    }
    if subject == "user id" && id.chars().count() > MAX_USER_ID_CHARS {
        return Err(Error::invalid(
            operation,
            subject,
            format!("must be at most {MAX_USER_ID_CHARS} characters"),
        ));
    }
    Ok(())
}

const MAX_USER_ID_CHARS: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    const OP: Operation = Operation::SendToGroup;

    #[test]
    fn hub_names() {
        for ok in ["a", "Chat", "chat_1", "a`,.[]", &"a".repeat(128)] {
            assert!(validate_hub_name(OP, "hub", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "_a",
            "a b",
            "a-b",
            "a/b",
            "é",
            "aé",
            &"a".repeat(129),
        ] {
            let err = validate_hub_name(OP, "hub", bad).unwrap_err();
            assert!(err.to_string().contains("hub name"), "{err}");
        }
    }

    #[test]
    fn group_names() {
        assert!(validate_group_name(OP, "g").is_ok());
        assert!(validate_group_name(OP, " g ").is_ok());
        assert!(validate_group_name(OP, &"é".repeat(1024)).is_ok());
        for bad in ["", " ", "\t\n", &"g".repeat(1025)] {
            let err = validate_group_name(OP, bad).unwrap_err();
            assert!(err.to_string().contains("group name"), "{err}");
        }
    }

    #[test]
    fn ids() {
        assert!(validate_id(OP, "user id", &"é".repeat(1024)).is_ok());
        let err = validate_id(OP, "user id", &"u".repeat(1025)).unwrap_err();
        assert!(err.to_string().contains("at most 1024"), "{err}");
        assert!(validate_id(OP, "connection id", "").is_err());
    }

    #[test]
    fn message_rules() {
        assert!(Message::from_values("t", vec![]).validate(OP).is_ok());
        let err = Message::from_values(" ", vec![]).validate(OP).unwrap_err();
        assert!(err.to_string().contains("target"));
        let big = Message::new("t", (("x".repeat(MAX_BODY_BYTES)),)).unwrap();
        let err = big.validate(OP).unwrap_err();
        assert!(err.to_string().contains("at most 1048576"), "{err}");
        // Just under the limit passes.
        let overhead = serde_json::to_vec(&Message::new("t", ("",)).unwrap())
            .unwrap()
            .len();
        let fits = Message::new("t", ("x".repeat(MAX_BODY_BYTES - overhead),)).unwrap();
        assert!(fits.validate(OP).is_ok());
    }

    #[test]
    fn payloads_body_is_the_sdks_protocol_map() {
        let json = b"{\"type\":1,\"target\":\"t\",\"arguments\":[]}\x1e".to_vec();
        let big = vec![7u8; 300]; // bin 16 from 256 bytes on
        let m = Message::from_payloads("t", Some(json.clone()), Some(big.clone())).unwrap();
        let mut expected = vec![0x82, 0xa4];
        expected.extend_from_slice(b"json");
        expected.extend_from_slice(&[0xc4, json.len() as u8]);
        expected.extend_from_slice(&json);
        expected.push(0xab);
        expected.extend_from_slice(b"messagepack");
        expected.extend_from_slice(&[0xc5, 0x01, 0x2c]);
        expected.extend_from_slice(&big);
        assert_eq!(m.payloads_body().unwrap(), expected);
        // One protocol only: a one-entry map.
        let m = Message::from_payloads("t", None, Some(vec![1, 0x90])).unwrap();
        assert_eq!(
            m.payloads_body().unwrap(),
            [&[0x81, 0xab][..], b"messagepack", &[0xc4, 2, 1, 0x90]].concat()
        );
        // A JSON message has no binary body, and its JSON form has no trace of payloads.
        assert_eq!(Message::new("t", ()).unwrap().payloads_body(), None);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"target":"t","arguments":[]}"#
        );
        assert!(format!("{m:?}").contains("messagepack_bytes: Some(2)"));
    }

    #[test]
    fn payloads_count_against_the_body_limit() {
        let m = Message::from_payloads("t", None, Some(vec![0; MAX_BODY_BYTES])).unwrap();
        let err = m.validate(OP).unwrap_err();
        assert!(err.to_string().contains("bytes of payloads"), "{err}");
        let m = Message::from_payloads("", None, Some(vec![1, 0x90])).unwrap();
        assert!(m.validate(OP).unwrap_err().to_string().contains("target"));
        for (json, mp) in [
            (Some(b"{}".to_vec()), None),
            (Some(b"\xff\x1e".to_vec()), None),
            (None, Some(Vec::new())),
        ] {
            assert!(Message::from_payloads("t", json, mp).is_err());
        }
    }

    #[test]
    fn arguments_of_any_serializable() {
        let m = Message::new("t", vec![1, 2, 3]).unwrap();
        assert_eq!(m.arguments, vec![Value::from(1), 2.into(), 3.into()]);
        let m = Message::new("t", ()).unwrap();
        assert!(m.arguments.is_empty());
        assert_eq!(
            serde_json::to_string(&Message::new("t", ("a", true)).unwrap()).unwrap(),
            r#"{"target":"t","arguments":["a",true]}"#
        );
    }
}
