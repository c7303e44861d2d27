//! Negotiate with `HubClient`: the client URL and a client token for it.

use std::sync::Arc;

use super::super::error::{Error, ErrorKind};
use super::super::message::validate_hub_name;
use super::super::negotiate::{NegotiateOptions, NegotiateResponse, DEFAULT_CLIENT_TOKEN_LIFETIME};
use super::super::shared::Shared;
use super::super::token::TokenClaims;
use super::super::version::Operation;
use super::HubClient;

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
        let shared = self.negotiate_endpoint(&options)?;
        let (url, claims) = self.client_claims(shared, options)?;
        let access_token = shared.mint_client_token(&claims).await;
        Ok(NegotiateResponse {
            url,
            access_token: access_token.map_err(relabel)?,
        })
    }

    /// [`HubClient::negotiate`] without awaiting: signs with the access key, no network. Fails
    /// with [`ErrorKind::Credential`] when the client has no access key (under Entra ID the
    /// signing key comes from the service: use `negotiate`).
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
        let shared = self.negotiate_endpoint(&options)?;
        let (url, claims) = self.client_claims(shared, options)?;
        let minter = shared.minter.as_ref().ok_or_else(|| {
            Error::credential(
                Operation::Negotiate,
                "negotiate_local signs client tokens with the access key; under Entra ID use \
                 negotiate, which gets a signing key from the service",
            )
        })?;
        Ok(NegotiateResponse {
            url,
            access_token: minter.mint(&claims).map_err(relabel)?,
        })
    }

    /// The endpoint the client goes to: the only one, or the router's choice among several.
    fn negotiate_endpoint(&self, options: &NegotiateOptions) -> Result<&Arc<Shared>, Error> {
        match &self.service.fleet {
            Some(fleet) => fleet.negotiate_member(&self.name, options),
            None => Ok(&self.service.shared),
        }
    }

    /// The client URL and the claims of its token, on endpoint `shared`.
    fn client_claims(
        &self,
        shared: &Shared,
        options: NegotiateOptions,
    ) -> Result<(String, TokenClaims), Error> {
        if shared.local_validation {
            validate_hub_name(Operation::Negotiate, "hub", &self.given)?;
        }
        // The client-facing hub always carries the application prefix.
        let hub = match &shared.application {
            Some(app) => format!("{app}_{}", self.name),
            None => self.name.clone(),
        };
        let url = format!("{}/client/?hub={hub}", shared.client_endpoint);
        let claims = TokenClaims {
            audience: shared.audience.client_audience(&hub),
            lifetime: options.lifetime.unwrap_or(DEFAULT_CLIENT_TOKEN_LIFETIME),
            user_id: options.user_id,
            extra: options.claims,
        };
        Ok((url, claims))
    }
}

/// Errors in the claims (a reserved claim given, ...) are the negotiate call's.
fn relabel(e: Error) -> Error {
    match e.kind() {
        ErrorKind::InvalidInput { .. } => e.with_operation(Operation::Negotiate),
        _ => e,
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
