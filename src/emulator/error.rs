//! The emulator's errors.

use std::time::Duration;

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A builder setting is unusable.
    #[error("invalid emulator setting: {0}")]
    Config(String),
}

/// The waiting in
/// [`EmulatorHandle::wait_for_delivery`](super::EmulatorHandle::wait_for_delivery) ran out
/// of time.
#[derive(Debug, thiserror::Error)]
#[error("no matching event within {0:?}")]
pub struct WaitTimeout(pub Duration);
