//! The Microsoft Entra ID settings of a connection string and the credential they select.

use std::fmt;

use super::error::Error;
use super::token::AccessKey;
use super::version::Operation;

/// The key of an application's client secret.
pub(crate) const CLIENT_SECRET: &str = "ClientSecret";

fn invalid(key: &str, rule: impl Into<String>) -> Error {
    Error::invalid(
        Operation::ParseConnectionString,
        format!("connection string key `{key}`"),
        rule,
    )
}

/// The Microsoft Entra ID settings of a connection string.
///
/// ```
/// use azure_signalr_rest::{ConnectionString, Credential, EntraAuthType};
/// let cs: ConnectionString = "Endpoint=https://h;AuthType=azure.app;ClientId=c;TenantId=t;ClientSecret=s".parse().unwrap();
/// let Credential::EntraId(e) = cs.credential() else { unreachable!() };
/// assert_eq!(e.auth_type, EntraAuthType::Application);
/// assert_eq!(e.tenant_id.as_deref(), Some("t"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EntraId {
    /// Which flavour: `azure` (default credential), `azure.msi` (managed identity) or
    /// `azure.app` (application with a client secret).
    pub auth_type: EntraAuthType,
    /// `ClientId`, if given.
    pub client_id: Option<String>,
    /// `TenantId`, if given.
    pub tenant_id: Option<String>,
    /// `ClientSecret`, if given (redacted in `Debug`).
    pub client_secret: Option<AccessKey>,
    /// `ClientCert`: the path of the application's certificate file, if given.
    pub client_cert: Option<String>,
}

/// Which Entra ID credential a connection string selects, as Microsoft's .NET parser maps it.
///
/// ```
/// use azure_signalr_rest::{ConnectionString, Credential, EntraSource};
/// let cs: ConnectionString = "Endpoint=https://h;AuthType=aad;ClientId=c".parse().unwrap();
/// let Credential::EntraId(e) = cs.credential() else { unreachable!() };
/// assert_eq!(e.source().unwrap(), EntraSource::ManagedIdentity { client_id: Some("c".into()) });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum EntraSource {
    /// `AuthType=azure`: the developer's sign-in chain (Azure CLI, Azure Developer CLI).
    DeveloperTools,
    /// A managed identity: system-assigned, or user-assigned by client id.
    ManagedIdentity {
        /// The user-assigned identity's client id.
        client_id: Option<String>,
    },
    /// An application signing in with a client secret.
    ClientSecret {
        /// `TenantId`.
        tenant_id: String,
        /// `ClientId`.
        client_id: String,
        /// `ClientSecret` (redacted in `Debug`).
        secret: AccessKey,
    },
    /// An application signing in with a certificate (a PKCS#12 file).
    ClientCertificate {
        /// `TenantId`.
        tenant_id: String,
        /// `ClientId`.
        client_id: String,
        /// `ClientCert`: the certificate file.
        path: String,
    },
}

impl fmt::Debug for EntraSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntraSource::DeveloperTools => f.write_str("DeveloperTools"),
            EntraSource::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            EntraSource::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("secret", &"<redacted>")
                .finish(),
            EntraSource::ClientCertificate {
                tenant_id,
                client_id,
                path,
            } => f
                .debug_struct("ClientCertificate")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("path", path)
                .finish(),
        }
    }
}

impl EntraId {
    /// The credential these settings select, by the rules of Microsoft's .NET parser:
    /// `azure` is the developer's sign-in chain; `azure.msi` a managed identity (user-assigned
    /// with `ClientId`); `azure.app` needs `ClientId`, `TenantId` and `ClientSecret` or
    /// `ClientCert`; `aad` is a managed identity unless both `ClientId` and `TenantId` are
    /// given, then an application as with `azure.app`. The error names the missing key.
    ///
    /// ```
    /// use azure_signalr_rest::{ConnectionString, Credential, EntraSource};
    /// let cs: ConnectionString = "Endpoint=https://h;AuthType=azure".parse().unwrap();
    /// let Credential::EntraId(e) = cs.credential() else { unreachable!() };
    /// assert_eq!(e.source().unwrap(), EntraSource::DeveloperTools);
    /// let err = "Endpoint=https://h;AuthType=azure.app;ClientId=c".parse::<ConnectionString>().unwrap_err();
    /// assert!(err.to_string().contains("TenantId"));
    /// ```
    pub fn source(&self) -> Result<EntraSource, Error> {
        let application = |client_id: &str, tenant_id: &str| {
            let (client_id, tenant_id) = (client_id.to_owned(), tenant_id.to_owned());
            match (&self.client_secret, &self.client_cert) {
                (Some(secret), _) => Ok(EntraSource::ClientSecret {
                    tenant_id,
                    client_id,
                    secret: secret.clone(),
                }),
                (None, Some(path)) => Ok(EntraSource::ClientCertificate {
                    tenant_id,
                    client_id,
                    path: path.clone(),
                }),
                (None, None) => Err(invalid(
                    CLIENT_SECRET,
                    format!(
                        "(or `ClientCert`) is required with AuthType={} and a TenantId",
                        self.auth_type.as_str()
                    ),
                )),
            }
        };
        match self.auth_type {
            EntraAuthType::Default => Ok(EntraSource::DeveloperTools),
            EntraAuthType::ManagedIdentity => Ok(EntraSource::ManagedIdentity {
                client_id: self.client_id.clone(),
            }),
            EntraAuthType::Aad => match (&self.client_id, &self.tenant_id) {
                (Some(client), Some(tenant)) => application(client, tenant),
                (client_id, _) => Ok(EntraSource::ManagedIdentity {
                    client_id: client_id.clone(),
                }),
            },
            EntraAuthType::Application => {
                let client = self
                    .client_id
                    .as_deref()
                    .ok_or_else(|| invalid("ClientId", "is required with AuthType=azure.app"))?;
                let tenant = self
                    .tenant_id
                    .as_deref()
                    .ok_or_else(|| invalid("TenantId", "is required with AuthType=azure.app"))?;
                application(client, tenant)
            }
        }
    }
}

impl fmt::Debug for EntraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraId")
            .field("auth_type", &self.auth_type)
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// The `AuthType` values of a connection string.
///
/// ```
/// use azure_signalr_rest::EntraAuthType;
/// assert_eq!(EntraAuthType::ManagedIdentity.as_str(), "azure.msi");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntraAuthType {
    /// `aad`: a managed identity, or an application when `ClientId` and `TenantId` are given.
    Aad,
    /// `azure`: the developer's sign-in chain (the .NET SDK's `DefaultAzureCredential`).
    Default,
    /// `azure.msi`: a managed identity.
    ManagedIdentity,
    /// `azure.app`: an application registration with a client secret or certificate.
    Application,
}

impl EntraAuthType {
    /// The value as written in connection strings.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::EntraAuthType::Default.as_str(), "azure");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            EntraAuthType::Aad => "aad",
            EntraAuthType::Default => "azure",
            EntraAuthType::ManagedIdentity => "azure.msi",
            EntraAuthType::Application => "azure.app",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectionString, Credential};

    fn source(cs: &str) -> Result<EntraSource, String> {
        let cs: ConnectionString = cs.parse().map_err(|e: Error| e.to_string())?;
        match cs.credential() {
            Credential::EntraId(e) => e.source().map_err(|e| e.to_string()),
            Credential::AccessKey(_) => Err("access key".into()),
        }
    }

    fn msi(client_id: Option<&str>) -> Result<EntraSource, String> {
        Ok(EntraSource::ManagedIdentity {
            client_id: client_id.map(str::to_owned),
        })
    }

    /// The rules of `ConnectionStringParser.cs` (Azure/azure-signalr), case by case.
    #[test]
    fn auth_types_map_like_the_dotnet_parser() {
        let e = "Endpoint=https://h;";
        assert_eq!(
            source(&format!("{e}AuthType=azure")),
            Ok(EntraSource::DeveloperTools)
        );
        // `azure` ignores the other keys, as DefaultAzureCredential() does.
        assert_eq!(
            source(&format!("{e}AuthType=Azure;ClientId=c;TenantId=t")),
            Ok(EntraSource::DeveloperTools)
        );
        assert_eq!(source(&format!("{e}AuthType=azure.msi")), msi(None));
        assert_eq!(
            source(&format!("{e}AuthType=azure.msi;ClientId=c;TenantId=t")),
            msi(Some("c"))
        );
        assert_eq!(source(&format!("{e}AuthType=aad")), msi(None));
        assert_eq!(
            source(&format!("{e}authtype=AAD;clientid=c")),
            msi(Some("c"))
        );
        let secret = EntraSource::ClientSecret {
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: AccessKey::new("s"),
        };
        for auth in ["aad", "azure.app"] {
            assert_eq!(
                source(&format!(
                    "{e}AuthType={auth};ClientId=c;TenantId=t;ClientSecret=s"
                )),
                Ok(secret.clone())
            );
            // A secret wins over a certificate.
            assert_eq!(
                source(&format!(
                    "{e}AuthType={auth};ClientId=c;TenantId=t;ClientSecret=s;ClientCert=/x.pfx"
                )),
                Ok(secret.clone())
            );
            assert_eq!(
                source(&format!(
                    "{e}AuthType={auth};ClientId=c;TenantId=t;ClientCert=/x.pfx"
                )),
                Ok(EntraSource::ClientCertificate {
                    tenant_id: "t".into(),
                    client_id: "c".into(),
                    path: "/x.pfx".into(),
                })
            );
            let err = source(&format!("{e}AuthType={auth};ClientId=c;TenantId=t")).unwrap_err();
            assert!(
                err.contains("`ClientSecret`") && err.contains("ClientCert"),
                "{err}"
            );
        }
        let err = source(&format!("{e}AuthType=azure.app;TenantId=t;ClientSecret=s")).unwrap_err();
        assert!(err.contains("`ClientId`"), "{err}");
        let err = source(&format!("{e}AuthType=azure.app;ClientId=c;ClientSecret=s")).unwrap_err();
        assert!(err.contains("`TenantId`"), "{err}");
        // An AuthType the parser does not know falls back to the access key.
        assert_eq!(
            source(&format!("{e}AuthType=kerberos;AccessKey=k")),
            Err("access key".into())
        );
        let err = source(&format!("{e}AuthType=kerberos")).unwrap_err();
        assert!(err.contains("`AccessKey`"), "{err}");
        // An Entra type ignores an AccessKey, as the .NET parser does.
        assert_eq!(
            source(&format!("{e}AuthType=azure.msi;AccessKey=k")),
            msi(None)
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let cs: ConnectionString =
            "Endpoint=https://h;AuthType=azure.app;ClientId=c;TenantId=t;ClientSecret=s3cr3t-value"
                .parse()
                .unwrap();
        let Credential::EntraId(entra) = cs.credential() else {
            panic!("Entra ID expected")
        };
        let shown = format!("{cs:?} {cs} {entra:?} {:?}", entra.source().unwrap());
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        let err = "Endpoint=https://h;AuthType=azure.app;ClientId=c;ClientSecret=s3cr3t-value"
            .parse::<ConnectionString>()
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("s3cr3t-value"));
    }
}
