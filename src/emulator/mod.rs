//! A local emulator of Azure SignalR Service in serverless mode.
//!
//! It serves the data-plane REST API (1.0-preview, 1.0 and 2022-06-01 on one port) and the
//! client endpoint (negotiate, then WebSockets, Server-Sent Events or Long Polling with the
//! JSON or MessagePack hub protocol), so tests can run against a real socket without Azure.
//!
//! The handle also lets a test look inside: which connections, users and groups a hub has,
//! and what was delivered to whom.
//!
//! Where it differs from the service, knowingly:
//! - no throttling and no per-unit connection or message quotas (the only 429 is for too many
//!   pending negotiations, see [`EmulatorBuilder::negotiation_limits`]);
//! - CORS like the official emulator, but on the client endpoint (`/client/...`) only: a page
//!   of any origin may negotiate and connect (with credentials); the REST API answers no
//!   preflight and sends no CORS headers, since only servers call it;
//! - HTTP/1.1 only (no HTTP/2), with limits against careless or hostile clients: a request
//!   head must arrive within [`EmulatorBuilder::header_timeout`] (which also closes idle
//!   keep-alive connections), a body within [`EmulatorBuilder::body_timeout`], and at most
//!   [`EmulatorBuilder::max_connections`] connections are served at once (one more gets `503`
//!   with `Retry-After`);
//! - stateful reconnect (Ack/Sequence) is decoded but not honoured;
//! - upstreams get the `connected`, `disconnected` and message events, not the blocking
//!   `connect` event;
//! - a client that falls behind is closed once its outbound queue holds more than
//!   [`EmulatorBuilder::outbound_budget`] bytes (default 16 MiB) or
//!   [`EmulatorBuilder::outbound_queue`] messages: what was queued for it is dropped, it gets a
//!   Close message with the reason (if it reads within two seconds) and a WebSocket close frame
//!   with status 1008, and the cut-off is logged and listed by [`EmulatorHandle::cutoffs`];
//! - an SSE or Long Polling request, and a WebSocket naming a negotiated `id`, must carry a
//!   token for the user that negotiated, else `403`.
//!
//! Tokens are checked as the service checks them and accepted as Microsoft's .NET SDK signs
//! them: at most 4096 characters; HS256, HS384 or HS512 with the access key; `exp` required,
//! `exp` and `nbf` checked with [`CLOCK_SKEW`] (five minutes) of leeway; `aud` must name the
//! scheme, host and path of the request (a port in a REST `aud` must match, an `aud` without
//! one matches any port; the query of a REST audience is ignored; a client audience must name
//! the hub, `<endpoint>/client/?hub=<hub>`, and its port and other parameters are not compared);
//! the user id is `asrs.s.uid`, else `nameid`, else `sub`. A token in the `access_token` query
//! parameter is taken only on client transport requests (`/client/?hub=...&id=...`: browsers
//! cannot put headers on a WebSocket or an `EventSource`), never on negotiate or REST calls.
//! Every 401 carries `WWW-Authenticate: Bearer`. Hub and `application` names compare
//! case-insensitively; `application` is read on 1.0 and 2022-06-01 routes, and an empty one
//! means none.
//!
//! ```
//! use std::time::Duration;
//! use azure_signalr_rest::emulator::Emulator;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
//! assert!(emulator.connection_string().starts_with("Endpoint=http://127.0.0.1;Port="));
//!
//! // Nobody is connected yet, so nothing can be delivered: waiting times out.
//! let waited = emulator
//!     .wait_for_delivery(|d| d.target == "newMessage", Duration::from_millis(50))
//!     .await;
//! assert!(waited.is_err());
//! assert!(emulator.hub("chat").connections.is_empty());
//!
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod access_key;
mod auth;
mod builder;
mod config;
mod connections;
mod entra;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod inspect;
mod request_log;
mod rest;
mod server;
mod state;
mod upstream;

pub use crate::protocol::TransportType;
pub use auth::CLOCK_SKEW;
pub use builder::{Emulator, EmulatorBuilder};
pub use config::{
    DEFAULT_ACCESS_KEY, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_NEGOTIATIONS_PER_HUB, DEFAULT_NEGOTIATIONS_PER_USER, DEFAULT_OUTBOUND_BUDGET,
    DEFAULT_OUTBOUND_QUEUE,
};
#[cfg(feature = "identity")]
pub use entra::EntraIssuerCredential;
pub use entra::{EntraIssuer, EntraTrust, SIGNALR_AUDIENCE};
pub use error::{EmulatorError, WaitTimeout};
pub use handle::EmulatorHandle;
pub use inspect::{ConnectionInfo, Cutoff, Delivery, HubSnapshot};
pub use upstream::{
    UpstreamSettings, UpstreamSettingsError, UpstreamTemplate, DEFAULT_UPSTREAM_URL,
};
