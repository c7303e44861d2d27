//! Microsoft Entra ID (feature `identity`): a token cache over any
//! `azure_core::credentials::TokenCredential`, and the signing key that client tokens are
//! signed with when there is no access key.
//!
//! The protocol is the one of Microsoft's .NET server SDK (`AadAccessKey`,
//! `AccessKeySynchronizer` in Azure/azure-signalr): REST calls carry the Entra token itself
//! (scope [`SIGNALR_SCOPE`]); for client tokens the SDK asks the service for a signing key with
//! the Entra token (`GET {ServerEndpoint or Endpoint}/api/v1/auth/accessKey`, answered with
//! `{"KeyId": ..., "AccessKey": ...}`), signs HS256 with it and names it in the header's `kid`.
//! The key is fetched again after [`SIGNING_KEY_REFRESH`], as the SDK re-authorizes every 55
//! minutes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::Error;
use super::token::{AccessKey, Token, TokenClaims, TokenMinter};
use super::version::Operation;

/// The scope of Entra tokens for Azure SignalR Service (the .NET SDK's `DefaultScope`).
pub const SIGNALR_SCOPE: &str = "https://signalr.azure.com/.default";

/// A cached Entra token is replaced this long before it expires.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// How long a signing key is used before it is fetched again (the .NET SDK's
/// `AuthorizeInterval`, 55 minutes).
pub const SIGNING_KEY_REFRESH: Duration = Duration::from_secs(55 * 60);

/// The path the signing key is fetched from, under the server endpoint.
pub(crate) const ACCESS_KEY_PATH: &str = "/api/v1/auth/accessKey";

struct CachedEntraToken {
    token: Token,
    expires_on: OffsetDateTime,
}

/// Entra tokens for the SignalR scope from one credential, reused until
/// shortly before they expire. Concurrent callers that find no usable token wait for one
/// refresh rather than each asking the credential.
pub(crate) struct EntraTokens {
    credential: Arc<dyn TokenCredential>,
    cached: tokio::sync::Mutex<Option<CachedEntraToken>>,
}

impl fmt::Debug for EntraTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credential's own Debug is the Azure SDK's redacting one; the token is left out.
        f.debug_struct("EntraTokens")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl EntraTokens {
    pub(crate) fn new(credential: Arc<dyn TokenCredential>) -> EntraTokens {
        EntraTokens {
            credential,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A valid Entra token for [`SIGNALR_SCOPE`]. The error says what failed, never a token.
    pub(crate) async fn token(&self) -> Result<Token, String> {
        // Held across the refresh, so one caller refreshes and the others then find its token.
        let mut cached = self.cached.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(c) = cached.as_ref()
            && c.expires_on - REFRESH_BEFORE_EXPIRY > now
        {
            return Ok(c.token.clone());
        }
        let fresh = self
            .credential
            .get_token(&[SIGNALR_SCOPE], None)
            .await
            .map_err(|e| format!("the Entra ID credential failed: {e}"))?;
        let token = Token::new(fresh.token.secret());
        *cached = Some(CachedEntraToken {
            token: token.clone(),
            expires_on: fresh.expires_on,
        });
        Ok(token)
    }
}

/// The answer of `/api/v1/auth/accessKey`.
#[derive(Deserialize)]
struct AccessKeyAnswer {
    #[serde(rename = "KeyId")]
    key_id: String,
    #[serde(rename = "AccessKey")]
    access_key: String,
}

struct CurrentKey {
    minter: Arc<TokenMinter>,
    fetched: Instant,
}

/// Signs client tokens under Entra ID with a key obtained from the service.
pub(crate) struct EntraSigner {
    tokens: Arc<EntraTokens>,
    url: String,
    http: reqwest::Client,
    timeout: Duration,
    current: tokio::sync::Mutex<Option<CurrentKey>>,
}

impl fmt::Debug for EntraSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraSigner")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl EntraSigner {
    /// A signer fetching its key from `rest_endpoint` (no trailing slash).
    pub(crate) fn new(
        tokens: Arc<EntraTokens>,
        rest_endpoint: &str,
        http: reqwest::Client,
        timeout: Duration,
    ) -> EntraSigner {
        EntraSigner {
            tokens,
            url: format!("{rest_endpoint}{ACCESS_KEY_PATH}"),
            http,
            timeout,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// Signs a client token with the current signing key (fetched first when there is none or
    /// it is older than [`SIGNING_KEY_REFRESH`]); its header names the key's `kid`.
    pub(crate) async fn mint(&self, claims: &TokenClaims) -> Result<Token, Error> {
        let minter = self.minter().await?;
        minter.mint(claims)
    }

    async fn minter(&self) -> Result<Arc<TokenMinter>, Error> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && c.fetched.elapsed() < SIGNING_KEY_REFRESH
        {
            return Ok(c.minter.clone());
        }
        let minter = Arc::new(self.fetch().await?);
        *current = Some(CurrentKey {
            minter: minter.clone(),
            fetched: Instant::now(),
        });
        Ok(minter)
    }

    async fn fetch(&self) -> Result<TokenMinter, Error> {
        let op = Operation::Negotiate;
        let failed = |message: String| Error::credential(op, message);
        let token = self.tokens.token().await.map_err(failed)?;
        let answer = self
            .http
            .get(&self.url)
            .bearer_auth(token.expose_secret())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                failed(format!(
                    "could not get a signing key from {}: {}",
                    self.url,
                    e.without_url()
                ))
            })?;
        let status = answer.status();
        if !status.is_success() {
            let why = match status.as_u16() {
                401 => "the service did not accept the Entra ID token",
                403 => {
                    "the identity may not sign client tokens (it needs the `SignalR App \
                     Server` or `SignalR REST API Owner` role)"
                }
                _ => "the service refused",
            };
            return Err(failed(format!(
                "signing key request to {} answered {status}: {why}",
                self.url
            )));
        }
        let body: AccessKeyAnswer = answer.json().await.map_err(|_| {
            failed(format!(
                "the answer of {} is not {{\"KeyId\": ..., \"AccessKey\": ...}}",
                self.url
            ))
        })?;
        if body.key_id.is_empty() || body.access_key.is_empty() {
            return Err(failed(format!(
                "the answer of {} has an empty KeyId or AccessKey",
                self.url
            )));
        }
        Ok(TokenMinter::with_key_id(
            AccessKey::new(body.access_key),
            body.key_id,
        ))
    }
}
