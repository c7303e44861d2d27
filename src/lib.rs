//! Rust SDK for the Azure SignalR Service data-plane REST API: push messages to SignalR clients
//! from a server or a serverless function, and manage their groups and connections.
//!
//! ```no_run
//! use azure_signalr_rest::{Message, ServiceClient};
//!
//! # async fn run() -> Result<(), azure_signalr_rest::Error> {
//! let client = ServiceClient::from_connection_string(
//!     "Endpoint=https://<name>.service.signalr.net;AccessKey=<key>;Version=1.0;",
//! )?;
//! let chat = client.hub("chat");
//! chat.send_to_user("alice", &Message::new("newMessage", ("hello",))?).await?;
//! chat.add_user_to_group("alice", "room 1", None).await?;
//! # Ok(()) }
//! ```
//!
//! Layers, each in its own place:
//! - [`raw`]: clients generated at build time from the specs in `specs/`, one per API version.
//! - the hand-written client, re-exported here: [`ConnectionString`], [`TokenMinter`],
//!   [`ServiceClient`] and [`HubClient`] (one method per operation, for every
//!   [`ApiVersion`]; its docs hold the table of which version offers what), [`Error`],
//!   [`RetryPolicy`].
//! - `protocol` (feature `protocol`): the SignalR hub-protocol codec shared by the emulator and
//!   the listener.
//! - `emulator` (feature `emulator`): a local stand-in for the service, for tests and offline
//!   development.
//! - `listener` (feature `listener`): a receiving SignalR client.

// docs.rs builds with `--cfg docsrs` on nightly: label feature-gated items with their feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

pub mod raw;

mod client;
pub use client::*;

#[cfg(feature = "protocol")]
#[cfg_attr(docsrs, doc(cfg(feature = "protocol")))]
pub mod protocol;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

#[cfg(feature = "listener")]
#[cfg_attr(docsrs, doc(cfg(feature = "listener")))]
pub mod listener;

// The README's Rust examples run as doc tests.
#[cfg(all(doctest, feature = "cli"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
