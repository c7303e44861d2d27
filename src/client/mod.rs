//! The hand-written client layer.
mod connection_string;
mod error;
mod message;
mod retry;
mod token;
mod version;

pub use connection_string::{ConnectionString, Credential, EntraAuthType, EntraId};
pub use error::Error;
pub use message::{
    validate_group_name, validate_hub_name, Message, MAX_BODY_BYTES, MAX_GROUP_NAME_CHARS,
    MAX_HUB_NAME_CHARS,
};
pub use retry::{Failure, RetryPolicy};
pub use token::{AccessKey, Token, TokenClaims, TokenCredential, TokenMinter};
pub use version::{ApiVersion, Operation, Support};
mod hub;
mod negotiate;
mod service;
mod transport;

pub use hub::HubClient;
pub use negotiate::{NegotiateOptions, NegotiateResponse, DEFAULT_CLIENT_TOKEN_LIFETIME};
pub(crate) use service::Auth;
pub use service::{ServiceClient, ServiceClientBuilder, DEFAULT_TIMEOUT, PREVIEW_PORT};
