//! What every client-endpoint request needs: its hub and token checked, its parameters, and
//! errors as JSON.

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use rand::RngCore;
use serde_json::json;

use crate::emulator::auth::{self, Audience};
use crate::emulator::state::{Inner, TakeRefused};

pub(super) fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub(super) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(super) fn json_error(status: StatusCode, error: impl Into<String>) -> Response {
    (status, Json(json!({ "error": error.into() }))).into_response()
}

/// A transport request whose token names another user than the one that negotiated: the
/// connection id alone must not let anyone read, write or end someone else's connection.
pub(super) fn other_user() -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "this connection belongs to another user",
    )
}

pub(super) fn refused_negotiation(refused: TakeRefused) -> Response {
    match refused {
        TakeRefused::Missing => json_error(StatusCode::NOT_FOUND, "no such connection"),
        TakeRefused::OtherUser => other_user(),
    }
}

/// Checks the hub parameter and the client token (found where `place` allows); returns
/// (lower-cased hub, user id).
#[allow(clippy::result_large_err)]
pub(super) fn authorize(
    inner: &Inner,
    headers: &HeaderMap,
    uri: &Uri,
    place: auth::TokenPlace,
) -> Result<(String, Option<String>), Response> {
    let Some(hub) = query_param(uri, "hub") else {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "the 'hub' query parameter is required",
        ));
    };
    if let Err(e) = crate::validate_hub_name(crate::Operation::Negotiate, "hub", &hub) {
        return Err(json_error(StatusCode::BAD_REQUEST, e.to_string()));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let verified = auth::bearer_token(headers, uri, place).and_then(|token| {
        auth::verify(
            token.as_deref(),
            &inner.config.access_key,
            inner.config.entra.as_deref(),
            host,
            Audience::Client { hub: &hub },
        )
    });
    match verified {
        Ok(v) => Ok((hub.to_lowercase(), v.user_id)),
        Err(reason) => {
            let mut response = json_error(StatusCode::UNAUTHORIZED, reason);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, auth::CHALLENGE);
            Err(response)
        }
    }
}
