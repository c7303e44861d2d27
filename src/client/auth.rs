//! How REST calls are authorized and labelled: a bearer token for each request's own URL
//! (signed with the access key, or from the caller's credential) and the SDK's user agent.

use std::sync::{Arc, LazyLock};

use reqwest::header::HeaderValue;
use url::Url;

use super::connection_string::trim_slash;
#[cfg(feature = "identity")]
use super::entra::EntraTokens;
use super::token::{Token, TokenMinter};
use crate::raw;

/// This crate and version, then the platform, in the shape of the .NET SDK's product info
/// (`<package>/<version> (<runtime>; <os>; <arch>)`).
pub(crate) static USER_AGENT: LazyLock<HeaderValue> = LazyLock::new(|| {
    let text = format!(
        "azure-signalr-rest/{} (Rust; {}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("azure-signalr-rest"))
});

/// The header the service reads the SDK's product info from (as the .NET SDK sends it).
const ASRS_USER_AGENT: &str = "asrs-user-agent";

/// How REST calls are authorized.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Tokens signed with the access key, one per request URL (cached).
    Key {
        minter: Arc<TokenMinter>,
        audience: Arc<AudienceBase>,
    },
    /// Microsoft Entra ID tokens from an `azure_core` credential (cached).
    #[cfg(feature = "identity")]
    Entra(Arc<EntraTokens>),
}

impl Auth {
    /// The bearer token for a request to `url` (see [`AudienceBase::rest_audience`]).
    pub(crate) async fn token_for(&self, url: &Url) -> Result<Token, String> {
        match self {
            Auth::Key { minter, audience } => minter
                .rest_token(&audience.rest_audience(url))
                .map_err(|e| e.to_string()),
            #[cfg(feature = "identity")]
            Auth::Entra(tokens) => tokens.token().await,
        }
    }
}

/// Characters `Uri.EscapeDataString` leaves alone (RFC 3986 unreserved): the .NET SDK escapes
/// the application name with it in the audience.
const ESCAPE_DATA: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What token audiences are built from: the `Endpoint`'s scheme and host, as Microsoft's .NET
/// SDK builds them.
///
/// The audience never carries a port, and never the `ClientEndpoint` or `ServerEndpoint`: the
/// service checks `aud` against its own public name, not against the port or proxy a request
/// came through, and signing exactly what the SDK signs means a service (or emulator) that
/// accepts the SDK's tokens accepts ours.
#[derive(Debug)]
pub(crate) struct AudienceBase {
    /// `scheme://host`, no trailing slash.
    origin: String,
    /// The path of the REST endpoint (empty, or e.g. `/signalr` behind a proxy): not part of the
    /// audience.
    rest_prefix: String,
}

impl AudienceBase {
    pub(crate) fn new(endpoint: &Url, rest_endpoint: &Url) -> AudienceBase {
        let host = endpoint.host_str().unwrap_or_default();
        AudienceBase {
            origin: format!("{}://{host}", endpoint.scheme()),
            rest_prefix: trim_slash(rest_endpoint.path()).to_owned(),
        }
    }

    /// The `aud` of a REST token for a request to `url`: `scheme://host` of the endpoint, the
    /// API path (no trailing `/`), then `?api-version=...` with `application=...` first when
    /// the URL has them. Other query parameters (`excluded`, `reason`, `ttl`) are not signed,
    /// like the .NET SDK, which appends them after signing.
    pub(crate) fn rest_audience(&self, url: &Url) -> String {
        let path = url.path();
        let path = path
            .strip_prefix(self.rest_prefix.as_str())
            .filter(|p| p.starts_with('/'))
            .unwrap_or(path);
        let mut aud = format!("{}{}", self.origin, trim_slash(path));
        let mut separator = '?';
        for name in ["application", "api-version"] {
            if let Some((_, value)) = url.query_pairs().find(|(k, _)| k == name) {
                aud.push(separator);
                aud.push_str(name);
                aud.push('=');
                aud.extend(percent_encoding::utf8_percent_encode(&value, ESCAPE_DATA));
                separator = '&';
            }
        }
        aud
    }

    /// The `aud` of a client token for `hub` (already lower-cased and application-prefixed):
    /// `scheme://host/client/?hub=<hub>`.
    pub(crate) fn client_audience(&self, hub: &str) -> String {
        format!("{}/client/?hub={hub}", self.origin)
    }
}

/// Adds `Authorization: Bearer <token>` whose audience is the request's own URL, and the
/// SDK's product info.
impl raw::PrepareRequest for Auth {
    fn prepare<'a>(&'a self, request: &'a mut reqwest::Request) -> raw::PrepareFuture<'a> {
        Box::pin(async move {
            let token = self.token_for(request.url()).await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| "the token is not a valid header value".to_owned())?;
            // Keeps the token out of HTTP-level debug logs.
            value.set_sensitive(true);
            let headers = request.headers_mut();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            headers.insert(ASRS_USER_AGENT, USER_AGENT.clone());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_audience_is_the_sdk_one() {
        let base = AudienceBase::new(
            &Url::parse("http://localhost:8888/").unwrap(),
            &Url::parse("http://localhost:8888/").unwrap(),
        );
        let url = Url::parse(
            "http://localhost:8888/api/hubs/chat/:send?excluded=a&api-version=2022-06-01&application=my%60app",
        )
        .unwrap();
        assert_eq!(
            base.rest_audience(&url),
            "http://localhost/api/hubs/chat/:send?application=my%60app&api-version=2022-06-01"
        );
        let url = Url::parse("https://h:444/api/v1/health/?excluded=x").unwrap();
        let endpoint = Url::parse("https://h:444").unwrap();
        let base = AudienceBase::new(&endpoint, &endpoint);
        assert_eq!(base.rest_audience(&url), "https://h/api/v1/health");
        // A ServerEndpoint with a path: the path prefix is not part of the audience.
        let base = AudienceBase::new(
            &Url::parse("https://public.example").unwrap(),
            &Url::parse("http://10.0.0.1:81/signalr").unwrap(),
        );
        let url = Url::parse("http://10.0.0.1:81/signalr/api/v1/hubs/chat").unwrap();
        assert_eq!(
            base.rest_audience(&url),
            "https://public.example/api/v1/hubs/chat"
        );
        assert_eq!(
            base.client_audience("app_chat"),
            "https://public.example/client/?hub=app_chat"
        );
    }
}
