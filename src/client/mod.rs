//! The hand-written client layer: connection strings, tokens, version selection and one typed
//! API for every operation, on top of the generated raw clients (every REST call goes through
//! one of them).
//!
#![doc = include_str!("versions.md")]

mod api;
mod auth;
mod builder;
mod connection_string;
mod endpoints;
// Microsoft Entra ID (scope of issue 13).
#[cfg(feature = "identity")]
mod entra;
#[cfg(feature = "identity")]
mod entra_credential;
mod entra_settings;
mod error;
mod executor;
mod hub;
mod message;
mod negotiate;
mod options;
mod retry;
mod service;
mod shared;
mod token;
mod version;

/// The Azure SDK's credential trait: any `azure_identity` credential signs a client in.
#[cfg(feature = "identity")]
pub use azure_core::credentials::TokenCredential;
pub use builder::{ServiceClientBuilder, DEFAULT_HEALTH_CHECK_INTERVAL};
pub use connection_string::{ConnectionString, Credential};
pub use endpoints::{
    DefaultEndpointRouter, EndpointRouter, EndpointStatus, EndpointType, PartialDelivery,
    ServiceEndpoint,
};
#[cfg(feature = "identity")]
pub use entra::{SIGNALR_SCOPE, SIGNING_KEY_REFRESH};
pub use entra_settings::{EntraAuthType, EntraId, EntraSource};
pub use error::{EndpointError, Error, ErrorKind};
pub use hub::HubClient;
pub use message::{
    validate_group_name, validate_hub_name, Message, MAX_BODY_BYTES, MAX_GROUP_NAME_CHARS,
    MAX_HUB_NAME_CHARS,
};
pub use negotiate::{NegotiateOptions, NegotiateResponse, DEFAULT_CLIENT_TOKEN_LIFETIME};
pub use options::{AddUserOptions, CloseOptions, SendOptions};
pub use retry::{Failure, RetryPolicy};
pub use service::{ServiceClient, DEFAULT_TIMEOUT, PREVIEW_PORT};
pub use token::{AccessKey, Token, TokenClaims, TokenMinter};
pub use version::{ApiVersion, Operation, Support};
