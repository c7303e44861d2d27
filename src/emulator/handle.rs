//! A running emulator: its addresses, its connection string, and the inspection API.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::config::DEFAULT_ACCESS_KEY;
use super::error::WaitTimeout;
use super::inspect::{ConnectionInfo, Cutoff, Delivery, HubSnapshot};
use super::state::{Inner, InspectionEvent};
use super::upstream::UpstreamSettings;

/// A running emulator. Dropping it stops the server abruptly; prefer [`shutdown`](Self::shutdown).
pub struct EmulatorHandle {
    /// The running emulator's state (other emulator modules may inspect it).
    pub(super) inner: Arc<Inner>,
    local_addr: SocketAddr,
    local_addrs: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    pub(crate) fn new(
        inner: Arc<Inner>,
        local_addrs: Vec<SocketAddr>,
        stop: tokio::sync::oneshot::Sender<()>,
        server: tokio::task::JoinHandle<()>,
    ) -> Self {
        EmulatorHandle {
            inner,
            local_addr: local_addrs[0],
            local_addrs,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// The socket address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every address listened on: one, or for `localhost` 127.0.0.1 and (when available) ::1.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Replaces the upstream settings of a running emulator (what the official emulator does
    /// when its `settings.json` changes). Events are routed by the new templates from now on;
    /// a connection made while there was no upstream at all stays without one.
    pub fn set_upstream_settings(&self, settings: UpstreamSettings) {
        self.inner.config.upstream.set(settings);
    }

    /// Whether the emulator listens on an address other than loopback with
    /// [`DEFAULT_ACCESS_KEY`], which anyone can use to sign tokens (a warning is logged at
    /// start when it does).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use azure_signalr_rest::emulator::Emulator;
    /// let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
    /// assert!(!emulator.exposes_default_key());
    /// emulator.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn exposes_default_key(&self) -> bool {
        self.inner.config.access_key == DEFAULT_ACCESS_KEY
            && self.local_addrs.iter().any(|a| !a.ip().is_loopback())
    }

    /// `http://<ip>:<port>`, the base of every REST and client URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The access key in force (needed to mint tokens; it is a secret: do not log it).
    pub fn access_key(&self) -> &str {
        &self.inner.config.access_key
    }

    /// `Endpoint=http://<ip>;Port=<port>;AccessKey=<key>;Version=1.0;`
    pub fn connection_string(&self) -> String {
        let ip = self.local_addr.ip();
        let host = if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!(
            "Endpoint=http://{host};Port={};AccessKey={};Version=1.0;",
            self.local_addr.port(),
            self.inner.config.access_key
        )
    }

    /// The state of one hub (name matched case-insensitively; for a 2022-06-01
    /// `application`, pass `<application>_<hub>`).
    pub fn hub(&self, hub: &str) -> HubSnapshot {
        self.inner.snapshot(&hub.to_lowercase())
    }

    /// Every hub that has ever held a connection or membership, lower-cased.
    pub fn hubs(&self) -> Vec<String> {
        self.inner.hub_names()
    }

    /// Clients closed for falling behind (slow consumers), oldest first; the latest 1 000.
    pub fn cutoffs(&self) -> Vec<Cutoff> {
        self.inner.cutoffs()
    }

    /// The most recent deliveries, oldest first (bounded by
    /// [`EmulatorBuilder::delivery_record`](super::EmulatorBuilder::delivery_record)).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries()
    }

    /// Waits for a delivery matching `filter`, looking at the record first so a delivery that
    /// already happened counts.
    ///
    /// A whole test: a client connects over WebSockets, the app broadcasts through the REST
    /// API, and the test waits until the emulator has written the message to that client.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// use azure_signalr_rest::emulator::Emulator;
    /// use futures::SinkExt;
    /// use jsonwebtoken::{encode, EncodingKey, Header};
    /// use serde_json::json;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
    /// let key = EncodingKey::from_secret(emulator.access_key().as_bytes());
    /// let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 600;
    /// let http = reqwest::Client::new();
    ///
    /// // A client: negotiate, open the WebSocket, send the JSON handshake.
    /// let client_url = format!("{}/client/?hub=chat", emulator.endpoint());
    /// let client_token = encode(&Header::default(), &json!({"aud": client_url, "exp": exp, "nameid": "ann"}), &key)?;
    /// let negotiated: serde_json::Value = http
    ///     .post(format!("{}/client/negotiate?hub=chat&negotiateVersion=1", emulator.endpoint()))
    ///     .bearer_auth(&client_token)
    ///     .send().await?.json().await?;
    /// let ws_url = format!(
    ///     "ws://{}/client/?hub=chat&id={}&access_token={client_token}",
    ///     emulator.local_addr(),
    ///     negotiated["connectionToken"].as_str().unwrap()
    /// );
    /// let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await?;
    /// socket.send("{\"protocol\":\"json\",\"version\":1}\u{1e}".into()).await?;
    /// emulator.wait_for_connection(|c| c.user_id.as_deref() == Some("ann"), Duration::from_secs(5)).await?;
    ///
    /// // The app: a REST broadcast with a token for that URL.
    /// let rest_url = format!("{}/api/v1/hubs/chat", emulator.endpoint());
    /// let rest_token = encode(&Header::default(), &json!({"aud": rest_url, "exp": exp}), &key)?;
    /// let status = http.post(&rest_url).bearer_auth(rest_token)
    ///     .json(&json!({"target": "newMessage", "arguments": ["hello"]}))
    ///     .send().await?.status();
    /// assert_eq!(status, 202);
    ///
    /// // The test: wait for the delivery instead of sleeping.
    /// let delivery = emulator
    ///     .wait_for_delivery(|d| d.target == "newMessage", Duration::from_secs(5))
    ///     .await?;
    /// assert_eq!(delivery.user_id.as_deref(), Some("ann"));
    /// assert_eq!(*delivery.arguments, vec![json!("hello")]);
    /// emulator.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_for_delivery(
        &self,
        filter: impl Fn(&Delivery) -> bool,
        timeout: Duration,
    ) -> Result<Delivery, WaitTimeout> {
        let mut events = self.inner.events.subscribe();
        if let Some(found) = self.inner.deliveries().into_iter().find(|d| filter(d)) {
            return Ok(found);
        }
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(InspectionEvent::Delivered(d)) if filter(&d) => return Some((*d).clone()),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(found) = self.inner.deliveries().into_iter().find(|d| filter(d))
                        {
                            return Some(found);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(d)) => Ok(d),
            _ => Err(WaitTimeout(timeout)),
        }
    }

    /// Waits until a connection matching `filter` is connected (after its handshake).
    pub async fn wait_for_connection(
        &self,
        filter: impl Fn(&ConnectionInfo) -> bool,
        timeout: Duration,
    ) -> Result<ConnectionInfo, WaitTimeout> {
        let mut events = self.inner.events.subscribe();
        let current = || self.inner.all_connections().into_iter().find(|c| filter(c));
        if let Some(found) = current() {
            return Ok(found);
        }
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(InspectionEvent::Connected(c)) if filter(&c) => return Some(c),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(found) = current() {
                            return Some(found);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(c)) => Ok(c),
            _ => Err(WaitTimeout(timeout)),
        }
    }

    /// Waits until connection `connection_id` has ended.
    pub async fn wait_for_disconnect(
        &self,
        connection_id: &str,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        let mut events = self.inner.events.subscribe();
        let gone = || {
            !self
                .inner
                .all_connections()
                .iter()
                .any(|c| c.connection_id == connection_id)
        };
        let wait = async {
            loop {
                if gone() {
                    return;
                }
                match events.recv().await {
                    Ok(InspectionEvent::Disconnected(c)) if c.connection_id == connection_id => {
                        return
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| WaitTimeout(timeout))
    }

    /// Closes every client with a Close message, then stops the server.
    pub async fn shutdown(mut self) {
        self.inner.begin_shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.wait_all_closed()).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        tracing::info!("SignalR emulator stopped");
    }

    /// Rotates the signing key handed out for Entra identities: the next
    /// `/api/v1/auth/accessKey` answers a new `kid`, and tokens signed with any earlier key
    /// are refused from now on. `None` when no Entra issuer is trusted.
    pub fn rotate_entra_key(&self) -> Option<String> {
        Some(self.inner.config.entra.as_deref()?.rotate())
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.inner.begin_shutdown();
    }
}
