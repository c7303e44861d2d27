//! Messages and the local validation rules the service applies to names and bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Error;
use super::version::Operation;

/// Largest REST request body the service accepts.
///
/// ```
/// assert_eq!(azure_signalr_rest::MAX_BODY_BYTES, 1_048_576);
/// ```
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest hub (and application) name.
///
/// ```
/// assert_eq!(azure_signalr_rest::MAX_HUB_NAME_CHARS, 128);
/// ```
pub const MAX_HUB_NAME_CHARS: usize = 128;
/// Longest group name.
///
/// ```
/// assert_eq!(azure_signalr_rest::MAX_GROUP_NAME_CHARS, 1024);
/// ```
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The client-side method to invoke.
    pub target: String,
    /// Its arguments.
    pub arguments: Vec<Value>,
}

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
            Ok(Value::Array(arguments)) => Ok(Message { target, arguments }),
            Ok(Value::Null) => Ok(Message {
                target,
                arguments: Vec::new(),
            }),
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
        }
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
        let len = serde_json::to_vec(self)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if len > MAX_BODY_BYTES {
            return Err(Error::invalid(
                operation,
                "message body",
                format!("is {len} bytes of JSON; the service accepts at most {MAX_BODY_BYTES}"),
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
