//! Step 1 of a SignalR connection: `POST <client url>/negotiate?...&negotiateVersion=1`.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use reqwest::StatusCode;

use super::error::NegotiateError;
use crate::protocol::TransportType;
use crate::Token;

/// How many `{url, accessToken}` redirects a negotiate may follow (as the official clients do).
const MAX_REDIRECTS: usize = 100;

/// How long one negotiate request may take.
const NEGOTIATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest negotiate error body quoted in an error.
pub(crate) const MAX_QUOTED_BODY: usize = 300;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NegotiateBody {
    connection_id: Option<String>,
    connection_token: Option<String>,
    #[serde(default)]
    available_transports: Vec<AvailableTransport>,
    url: Option<String>,
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AvailableTransport {
    transport: String,
    #[serde(default)]
    transfer_formats: Vec<String>,
}

/// A negotiated, not yet connected, connection. `Debug` redacts both tokens.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    /// The id REST calls name.
    pub connection_id: String,
    /// Secret to this client: it identifies the connection on the transport URL.
    pub connection_token: Token,
    /// The client URL after any redirect (`<endpoint>/client/?hub=<hub>`).
    pub client_url: Url,
    /// The token to present on the transport.
    pub access_token: Token,
    /// Offered transports and whether each carries binary frames.
    pub transports: Vec<(TransportType, bool)>,
}

impl Negotiated {
    /// Whether the server offers `transport`, with binary frames when `binary` is needed.
    pub(super) fn offers(&self, transport: TransportType, binary: bool) -> bool {
        self.transports
            .iter()
            .any(|&(t, b)| t == transport && (b || !binary))
    }

    /// The transport URL: the client URL with `id=<connection token>` added. Secret (it holds
    /// the connection token): never log it.
    pub(super) fn transport_url(&self) -> Url {
        let mut url = self.client_url.clone();
        url.query_pairs_mut()
            .append_pair("id", self.connection_token.expose_secret());
        url
    }
}

/// The negotiate URL for a client URL: `/negotiate` inserted before the query, and
/// `negotiateVersion=1` appended (the SignalR client convention).
pub(crate) fn negotiate_url(client_url: &Url) -> Url {
    let mut url = client_url.clone();
    let path = format!("{}/negotiate", client_url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut().append_pair("negotiateVersion", "1");
    url
}

fn parse_transport(name: &str) -> Option<TransportType> {
    [
        TransportType::WebSockets,
        TransportType::ServerSentEvents,
        TransportType::LongPolling,
    ]
    .into_iter()
    .find(|t| t.name().eq_ignore_ascii_case(name))
}

/// What an HTTP error response says: its status, and the `error` property of a JSON body,
/// else the start of the body text.
pub(crate) async fn error_status(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(MAX_QUOTED_BODY).collect());
    (status, detail.trim().to_owned())
}

/// Negotiates a connection, following redirects.
pub(crate) async fn negotiate(
    http: &reqwest::Client,
    client_url: Url,
    access_token: Token,
) -> Result<Negotiated, NegotiateError> {
    let mut client_url = client_url;
    let mut access_token = access_token;
    for _ in 0..MAX_REDIRECTS {
        let response = http
            .post(negotiate_url(&client_url))
            .bearer_auth(access_token.expose_secret())
            .timeout(NEGOTIATE_TIMEOUT)
            .send()
            .await
            .map_err(|e| NegotiateError::Request(e.without_url()))?;
        if !response.status().is_success() {
            let (status, detail) = error_status(response).await;
            return Err(NegotiateError::Status { status, detail });
        }
        let body: NegotiateBody = response
            .json()
            .await
            .map_err(|e| NegotiateError::InvalidResponse(e.without_url()))?;
        if let Some(error) = body.error {
            return Err(NegotiateError::Refused(error));
        }
        if let Some(url) = body.url {
            // A redirect to the service: connect there with the token it hands out.
            client_url = Url::parse(&url).map_err(NegotiateError::InvalidRedirect)?;
            if let Some(token) = body.access_token {
                access_token = Token::new(token);
            }
            continue;
        }
        let connection_id = body
            .connection_id
            .ok_or(NegotiateError::MissingConnectionId)?;
        // Version 0 servers use the connection id as the token.
        let connection_token = Token::new(body.connection_token.unwrap_or(connection_id.clone()));
        let transports = body
            .available_transports
            .iter()
            .filter_map(|t| {
                let binary = t
                    .transfer_formats
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case("Binary"));
                parse_transport(&t.transport).map(|kind| (kind, binary))
            })
            .collect();
        return Ok(Negotiated {
            connection_id,
            connection_token,
            client_url,
            access_token,
            transports,
        });
    }
    Err(NegotiateError::TooManyRedirects(MAX_REDIRECTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_url_inserts_negotiate_before_the_query() {
        let client = Url::parse("http://localhost:8888/client/?hub=chat").unwrap();
        assert_eq!(
            negotiate_url(&client).as_str(),
            "http://localhost:8888/client/negotiate?hub=chat&negotiateVersion=1"
        );
        let no_slash = Url::parse("https://x.service.signalr.net/client?hub=a").unwrap();
        assert_eq!(
            negotiate_url(&no_slash).as_str(),
            "https://x.service.signalr.net/client/negotiate?hub=a&negotiateVersion=1"
        );
    }

    #[test]
    fn negotiated_debug_redacts_tokens() {
        let n = Negotiated {
            connection_id: "cid".into(),
            connection_token: Token::new("secret-connection-token"),
            client_url: Url::parse("http://h/client/?hub=a").unwrap(),
            access_token: Token::new("secret-access-token"),
            transports: vec![
                (TransportType::WebSockets, true),
                (TransportType::ServerSentEvents, false),
            ],
        };
        let debug = format!("{n:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(n.offers(TransportType::WebSockets, true));
        assert!(n.offers(TransportType::ServerSentEvents, false));
        assert!(!n.offers(TransportType::ServerSentEvents, true));
        assert!(!n.offers(TransportType::LongPolling, false));
        assert_eq!(
            n.transport_url().as_str(),
            "http://h/client/?hub=a&id=secret-connection-token"
        );
    }
}
