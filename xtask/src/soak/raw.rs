//! A bare WebSocket client of the emulator, for what the listener never does on purpose: read
//! slowly, never read, or vanish without a Close frame.

use anyhow::{bail, Context, Result};
use azure_signalr_rest::{HubClient, NegotiateOptions};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected, handshaken JSON client and its connection id.
pub(super) struct RawClient {
    pub socket: Socket,
    pub connection_id: String,
}

/// Negotiates as `user` (negotiateVersion 1, as current clients do), opens the WebSocket and
/// completes the JSON handshake.
pub(super) async fn connect(
    hub: &HubClient,
    http: &reqwest::Client,
    user: &str,
) -> Result<RawClient> {
    let offer = hub.negotiate_local(NegotiateOptions::default().user_id(user))?;
    let token = offer.access_token.expose_secret().to_string();
    let mut negotiate = url::Url::parse(&offer.url)?;
    negotiate.set_path("/client/negotiate");
    negotiate
        .query_pairs_mut()
        .append_pair("negotiateVersion", "1");
    let answer: serde_json::Value = http
        .post(negotiate)
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let connection_id = answer["connectionId"]
        .as_str()
        .context("negotiate answer without connectionId")?
        .to_string();
    let id = answer["connectionToken"]
        .as_str()
        .context("negotiate answer without connectionToken")?;
    let mut ws = url::Url::parse(&offer.url)?;
    ws.set_scheme("ws").ok();
    ws.query_pairs_mut()
        .append_pair("id", id)
        .append_pair("access_token", &token);
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await?;
    socket
        .send(WsMessage::text(
            "{\"protocol\":\"json\",\"version\":1}\u{1e}",
        ))
        .await?;
    match socket.next().await {
        Some(Ok(WsMessage::Text(t))) if t.as_str() == "{}\u{1e}" => {}
        other => bail!("handshake answered {other:?}"),
    }
    Ok(RawClient {
        socket,
        connection_id,
    })
}

/// How a connection the client stopped reading ended, once it reads again.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// A Close frame with this status code.
    Closed(u16),
    /// The socket ended without a Close frame.
    Dropped,
    /// Still open.
    Open,
}

/// Reads what is buffered until the connection's end, for at most `wait`.
pub(super) async fn ending(socket: &mut Socket, wait: std::time::Duration) -> Ending {
    let read = async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(WsMessage::Close(frame)) => {
                    return Ending::Closed(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Ok(_) => continue,
                Err(_) => return Ending::Dropped,
            }
        }
        Ending::Dropped
    };
    tokio::time::timeout(wait, read)
        .await
        .unwrap_or(Ending::Open)
}

/// Reads at most one frame within `wait`: `Open` when it was a message or none came.
pub(super) async fn next_frame(socket: &mut Socket, wait: std::time::Duration) -> Ending {
    match tokio::time::timeout(wait, socket.next()).await {
        Err(_) | Ok(Some(Ok(WsMessage::Text(_) | WsMessage::Binary(_)))) => Ending::Open,
        Ok(Some(Ok(WsMessage::Close(frame)))) => {
            Ending::Closed(frame.map_or(1005, |f| u16::from(f.code)))
        }
        Ok(Some(Ok(_))) => Ending::Open,
        Ok(Some(Err(_)) | None) => Ending::Dropped,
    }
}
