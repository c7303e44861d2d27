//! Rust SDK for the Azure SignalR Service data-plane REST API.
//!
//! Layers, each in its own place:
//! - [`raw`]: clients generated at build time from the specs in `specs/`, one per API version.
//! - the hand-written client (re-exported at the crate root): connection strings, tokens,
//!   version selection and one typed API for every operation.
//! - `protocol` (feature `protocol`): the SignalR hub-protocol codec shared by the emulator and
//!   the listener.
//! - `emulator` (feature `emulator`): a local stand-in for the service.
//! - `listener` (feature `listener`): a receiving SignalR client.

pub mod raw;

mod client;
pub use client::*;

#[cfg(feature = "protocol")]
pub mod protocol;

#[cfg(feature = "emulator")]
pub mod emulator;

#[cfg(feature = "listener")]
pub mod listener;
