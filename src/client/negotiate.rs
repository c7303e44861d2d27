//! What a serverless app hands a client so it can connect: the client URL and an access token.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{Error, ErrorKind};
use super::hub::HubClient;
use super::message::validate_hub_name;
use super::token::{Token, TokenClaims};
use super::version::Operation;

/// Default lifetime of a client access token.
///
/// ```
/// assert_eq!(azure_signalr_rest::DEFAULT_CLIENT_TOKEN_LIFETIME.as_secs(), 3600);
/// ```
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

impl HubClient {
    /// What a client needs to connect to this hub: the client URL
    /// (`<client endpoint>/client/?hub=<hub>`) and a token for it, signed as Microsoft's .NET SDK
    /// signs it: `aud` = `scheme://host/client/?hub=<hub>` of the `Endpoint` (no port, not the
    /// `ClientEndpoint`: the service checks the audience against its own public name, not the
    /// address the client reaches it by), `asrs.s.uid` = the user id, the extra claims as given;
    /// one hour unless `lifetime` says otherwise.
    ///
    /// Asynchronous because a credential other than an access key may need the network to
    /// obtain its signing key; with an access key it signs locally, like
    /// [`HubClient::negotiate_local`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use azure_signalr_rest::{NegotiateOptions, ServiceClient};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let client = ServiceClient::from_connection_string(
    ///     "Endpoint=https://x.service.signalr.net;AccessKey=secret;ClientEndpoint=https://proxy.example",
    /// )
    /// .unwrap();
    /// let r = client
    ///     .hub("chat")
    ///     .negotiate(NegotiateOptions::default().user_id("bob").lifetime(Duration::from_secs(60)))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(r.url, "https://proxy.example/client/?hub=chat");
    /// // The token's audience names the service endpoint, without port or proxy.
    /// let payload = r.access_token.expose_secret().split('.').nth(1).unwrap();
    /// use base64::Engine as _;
    /// let claims: serde_json::Value = serde_json::from_slice(
    ///     &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    /// )
    /// .unwrap();
    /// assert_eq!(claims["aud"], "https://x.service.signalr.net/client/?hub=chat");
    /// assert_eq!(claims["asrs.s.uid"], "bob");
    /// # }
    /// ```
    pub async fn negotiate(&self, options: NegotiateOptions) -> Result<NegotiateResponse, Error> {
        self.negotiate_local(options)
    }

    /// [`HubClient::negotiate`] without awaiting: signs with the access key, no network. Fails
    /// with [`ErrorKind::Credential`] when the client has no access key.
    ///
    /// ```
    /// use azure_signalr_rest::{NegotiateOptions, ServiceClient};
    /// let client = ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// let r = client.hub("chat").negotiate_local(NegotiateOptions::default()).unwrap();
    /// let json = serde_json::to_value(&r).unwrap();
    /// assert_eq!(json["url"], "https://h/client/?hub=chat");
    /// assert!(json["accessToken"].is_string());
    /// ```
    pub fn negotiate_local(&self, options: NegotiateOptions) -> Result<NegotiateResponse, Error> {
        let op = Operation::Negotiate;
        let shared = &self.service.shared;
        if shared.local_validation {
            validate_hub_name(op, "hub", &self.given)?;
        }
        let minter = self.service.token_minter().ok_or_else(|| {
            Error::credential(
                op,
                "client tokens are signed with the access key; this client has a token \
                 credential instead",
            )
        })?;
        // The client-facing hub always carries the application prefix.
        let hub = match &shared.application {
            Some(app) => format!("{app}_{}", self.name),
            None => self.name.clone(),
        };
        let url = format!("{}/client/?hub={hub}", self.service.client_endpoint());
        let claims = TokenClaims {
            audience: shared.audience.client_audience(&hub),
            lifetime: options.lifetime.unwrap_or(DEFAULT_CLIENT_TOKEN_LIFETIME),
            user_id: options.user_id,
            extra: options.claims,
        };
        let access_token = minter.mint(&claims).map_err(|e| match e.kind() {
            ErrorKind::InvalidInput { .. } => e.with_operation(op),
            _ => e,
        })?;
        Ok(NegotiateResponse { url, access_token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::token::tests::decode_claims;
    use crate::ServiceClient;

    #[tokio::test]
    async fn negotiate_token_is_for_the_client_url() {
        let client = ServiceClient::from_connection_string(
            "Endpoint=http://localhost;Port=8888;AccessKey=negotiate-key;Version=1.0;",
        )
        .unwrap();
        let r = client
            .hub("Chat")
            .negotiate(
                NegotiateOptions::default()
                    .user_id("alice")
                    .claim("role", "admin"),
            )
            .await
            .unwrap();
        assert_eq!(r.url, "http://localhost:8888/client/?hub=chat");
        let aud = "http://localhost/client/?hub=chat";
        let claims = decode_claims(&r.access_token, "negotiate-key", aud);
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["asrs.s.uid"], "alice");
        assert!(!claims.contains_key("nameid"));
        assert_eq!(claims["role"], "admin");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, DEFAULT_CLIENT_TOKEN_LIFETIME.as_secs());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({ "url": r.url, "accessToken": r.access_token.expose_secret() })
        );
    }

    #[test]
    fn negotiate_checks_the_hub_and_claims() {
        let client =
            ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
        let err = client
            .hub("no hub")
            .negotiate_local(Default::default())
            .unwrap_err();
        assert_eq!(err.operation(), Operation::Negotiate);
        let err = client
            .hub("chat")
            .negotiate_local(NegotiateOptions::default().claim("aud", "elsewhere"))
            .unwrap_err();
        assert_eq!(err.operation(), Operation::Negotiate);
        assert!(err.to_string().contains("`aud`"), "{err}");
    }
}
