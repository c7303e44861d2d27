//! What a serverless app hands a client so it can connect: the client URL and an access token.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::token::Token;

/// Default lifetime of a client access token.
pub const DEFAULT_CLIENT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Who the client is and what its token says.
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::NegotiateOptions;
/// let options = NegotiateOptions::default()
///     .user_id("alice")
///     .claim("role", "admin")
///     .lifetime(Duration::from_secs(600));
/// assert_eq!(options.user_id.as_deref(), Some("alice"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct NegotiateOptions {
    /// The user the client connects as (the `asrs.s.uid` claim, as the .NET SDK writes it);
    /// REST calls address users by it.
    pub user_id: Option<String>,
    /// Extra claims for the token, passed through as given (not `aud`, `exp`, `iat`, `nbf`,
    /// `asrs.s.uid`).
    pub claims: Map<String, Value>,
    /// Token lifetime; [`DEFAULT_CLIENT_TOKEN_LIFETIME`] (one hour) when `None`.
    pub lifetime: Option<Duration>,
}

impl NegotiateOptions {
    /// Sets the user id.
    ///
    /// ```
    /// let o = azure_signalr_rest::NegotiateOptions::default().user_id("alice");
    /// assert_eq!(o.user_id.as_deref(), Some("alice"));
    /// ```
    pub fn user_id(mut self, user_id: impl Into<String>) -> NegotiateOptions {
        self.user_id = Some(user_id.into());
        self
    }

    /// Adds a claim.
    ///
    /// ```
    /// let o = azure_signalr_rest::NegotiateOptions::default().claim("role", "admin");
    /// assert_eq!(o.claims["role"], "admin");
    /// ```
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> NegotiateOptions {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Sets the token lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = azure_signalr_rest::NegotiateOptions::default().lifetime(Duration::from_secs(60));
    /// assert_eq!(o.lifetime, Some(Duration::from_secs(60)));
    /// ```
    pub fn lifetime(mut self, lifetime: Duration) -> NegotiateOptions {
        self.lifetime = Some(lifetime);
        self
    }
}

/// The negotiate response: serializes exactly as `{"url":"...","accessToken":"..."}`. `Debug`
/// redacts the token.
///
/// ```
/// use azure_signalr_rest::{NegotiateResponse, Token};
/// let r = NegotiateResponse {
///     url: "http://localhost:8888/client/?hub=chat".into(),
///     access_token: Token::new("a.b.c"),
/// };
/// assert_eq!(
///     serde_json::to_string(&r).unwrap(),
///     r#"{"url":"http://localhost:8888/client/?hub=chat","accessToken":"a.b.c"}"#
/// );
/// assert!(!format!("{r:?}").contains("a.b.c"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NegotiateResponse {
    /// `<client endpoint>/client/?hub=<hub>`.
    pub url: String,
    /// The client's token, whose `aud` is `url` with the service endpoint's scheme and host
    /// (no port, no `ClientEndpoint`), as the .NET SDK signs it.
    pub access_token: Token,
}
