//! What one endpoint of a [`ServiceClient`](super::ServiceClient) holds: its addresses,
//! credential, HTTP executor and raw client. A client of several endpoints holds one per
//! endpoint (see `endpoints/`).

use std::sync::Arc;

use super::api::RawClient;
use super::auth::AudienceBase;
use super::endpoints::EndpointStatus;
#[cfg(feature = "identity")]
use super::entra::EntraSigner;
use super::error::Error;
use super::executor::Executor;
use super::token::{Token, TokenClaims, TokenMinter};
use super::version::{ApiVersion, Operation};

/// One endpoint, ready to call.
pub(crate) struct Shared {
    /// Its name, type and health (name `default` for a client of one endpoint built without a
    /// name).
    pub(crate) status: EndpointStatus,
    pub(crate) version: ApiVersion,
    pub(crate) rest_endpoint: String,
    pub(crate) client_endpoint: String,
    pub(crate) minter: Option<Arc<TokenMinter>>,
    pub(crate) audience: Arc<AudienceBase>,
    pub(crate) application: Option<String>,
    pub(crate) local_validation: bool,
    pub(crate) executor: Executor,
    /// The raw client of `version`, made through its adapter in `api/`.
    pub(crate) raw: RawClient,
    /// Signs client tokens with a key from the service, under Entra ID.
    #[cfg(feature = "identity")]
    pub(crate) entra_signer: Option<Arc<EntraSigner>>,
}

impl Shared {
    /// Signs a client token: locally with the access key, or under Microsoft Entra ID with the
    /// key the service hands out for the credential (fetched, and refreshed, as needed).
    pub(crate) async fn mint_client_token(&self, claims: &TokenClaims) -> Result<Token, Error> {
        if let Some(minter) = &self.minter {
            return minter.mint(claims);
        }
        #[cfg(feature = "identity")]
        if let Some(signer) = &self.entra_signer {
            return signer.mint(claims).await;
        }
        Err(Error::credential(
            Operation::Negotiate,
            "no access key or Entra ID credential to sign client tokens with",
        ))
    }
}
