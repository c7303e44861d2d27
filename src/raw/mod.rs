//! Raw clients, generated at build time from the API descriptions in `specs/`, one module per
//! API version.
//!
//! This is the unopinionated layer: one method per published operation, with the parameters
//! the spec declares. A method is named after its operation (HTTP method and path), not after
//! the document's `operationId`, so a newly published description yields the same methods
//! (see `codegen/README.md`). It knows nothing of connection strings,
//! tokens, retries or versions; the hand-written [`ServiceClient`](crate::ServiceClient) adds
//! those. Reach for a raw client when you need an operation exactly as published.
//!
//! What the generated code leaves out, by design of the normalization pass in `codegen/`:
//! error answers (4xx, 5xx) are not typed; every one of them comes back as
//! [`Error::UnexpectedResponse`](v1::Error::UnexpectedResponse), carrying the response so its
//! status, headers and body can be read.
//!
//! Every raw client carries a [`RequestHook`], which sees each built request before it is
//! sent; that is where an `Authorization` header for the request's own URL goes.
//!
//! ```
//! use azure_signalr_rest::raw::{self, RequestHook};
//!
//! let client = raw::v1::Client::new_with_client(
//!     "http://localhost:8888",
//!     reqwest::Client::new(),
//!     RequestHook::none(),
//! );
//! # let _ = client;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

// Generated code: its documentation is what the specs give, which leaves some types' fields
// and variants undescribed.
#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/raw/mod.rs"));
}
pub use generated::*;

/// A boxed future returned by a [`PrepareRequest`] implementation.
pub type PrepareFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Something that adjusts each request a raw client is about to send (for instance, adds a
/// bearer token whose audience is the request's URL).
pub trait PrepareRequest: Send + Sync + 'static {
    /// Adjusts `request`; an `Err` aborts the call with that message.
    fn prepare<'a>(&'a self, request: &'a mut reqwest::Request) -> PrepareFuture<'a>;
}

/// The per-client hook every generated raw client runs before sending a request.
#[derive(Clone, Default)]
pub struct RequestHook(Option<Arc<dyn PrepareRequest>>);

impl RequestHook {
    /// A hook that leaves requests as they are.
    pub fn none() -> Self {
        Self(None)
    }

    /// A hook that runs `prepare` on every request.
    pub fn new(prepare: impl PrepareRequest) -> Self {
        Self(Some(Arc::new(prepare)))
    }

    /// Called by the generated code before each request is sent.
    #[doc(hidden)]
    pub async fn before_send(&self, request: &mut reqwest::Request) -> Result<(), String> {
        match &self.0 {
            Some(prepare) => prepare.prepare(request).await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for RequestHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "RequestHook(set)"
        } else {
            "RequestHook(none)"
        })
    }
}
