//! The `azure_identity` credential a connection string's Entra ID settings select (feature
//! `identity`).

use std::sync::Arc;

#[cfg(feature = "identity-certificate")]
use azure_core::credentials::SecretBytes;
use azure_core::credentials::{Secret, TokenCredential};
#[cfg(feature = "identity-certificate")]
use azure_identity::ClientCertificateCredential;
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};

use super::entra_settings::{EntraId, EntraSource};
use super::error::Error;
use super::version::Operation;

impl EntraId {
    /// The `azure_identity` credential these settings select (see [`EntraId::source`]):
    /// `DeveloperToolsCredential` (`azure`: Azure CLI, then Azure Developer CLI; the Rust SDK's
    /// counterpart of the .NET `DefaultAzureCredential` for a developer's machine),
    /// `ManagedIdentityCredential`, `ClientSecretCredential`, or `ClientCertificateCredential`
    /// with the PKCS#12 file `ClientCert` names (feature `identity-certificate`, which links
    /// the system OpenSSL). Nothing is fetched until a token is needed.
    ///
    /// ```
    /// use azure_signalr_rest::{ConnectionString, Credential};
    /// let cs: ConnectionString = "Endpoint=https://h;AuthType=azure.msi;ClientId=abc".parse().unwrap();
    /// let Credential::EntraId(e) = cs.credential() else { unreachable!() };
    /// assert!(e.token_credential().is_ok());
    /// ```
    pub fn token_credential(&self) -> Result<Arc<dyn TokenCredential>, Error> {
        let op = Operation::BuildClient;
        let failed = |what: &str, e: azure_core::Error| {
            Error::credential(op, format!("could not set up the {what} credential: {e}"))
        };
        Ok(match self.source()? {
            EntraSource::DeveloperTools => {
                DeveloperToolsCredential::new(None).map_err(|e| failed("developer tools", e))?
            }
            EntraSource::ManagedIdentity { client_id } => {
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.map(UserAssignedId::ClientId),
                    ..Default::default()
                };
                ManagedIdentityCredential::new(Some(options))
                    .map_err(|e| failed("managed identity", e))?
            }
            EntraSource::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => ClientSecretCredential::new(
                &tenant_id,
                client_id,
                Secret::new(secret.expose_secret().to_owned()),
                None,
            )
            .map_err(|e| failed("client secret", e))?,
            #[cfg(not(feature = "identity-certificate"))]
            EntraSource::ClientCertificate { .. } => {
                return Err(Error::credential(
                    op,
                    "ClientCert needs this crate's `identity-certificate` feature (it links the \
                     system OpenSSL)",
                ));
            }
            #[cfg(feature = "identity-certificate")]
            EntraSource::ClientCertificate {
                tenant_id,
                client_id,
                path,
            } => {
                let bytes = std::fs::read(&path).map_err(|e| {
                    Error::credential(op, format!("cannot read the ClientCert file `{path}`: {e}"))
                })?;
                ClientCertificateCredential::new(
                    tenant_id,
                    client_id,
                    SecretBytes::new(bytes),
                    None,
                )
                .map_err(|e| {
                    failed(
                        "client certificate (ClientCert must be a PKCS#12 file with its key)",
                        e,
                    )
                })?
            }
        })
    }
}
