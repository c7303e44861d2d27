//! The signing-key endpoint of Microsoft Entra ID (`/api/v1/auth/accessKey`): an identity the
//! trusted issuer vouches for gets the key its client tokens are signed with (see `entra`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::auth::{self, CLOCK_SKEW};
use super::state::Inner;

/// Where the emulator hands out signing keys (the .NET SDK's `AuthorizeUrl`).
const ACCESS_KEY_PATH: &str = "/api/v1/auth/accessKey";

/// `GET` or `POST /api/v1/auth/accessKey` (the .NET SDK sends `GET`): a signing key for a
/// valid Entra token, `{"KeyId": ..., "AccessKey": ...}`.
async fn access_key(State(inner): State<Arc<Inner>>, headers: HeaderMap, uri: Uri) -> Response {
    let refuse = |status: StatusCode, reason: String| {
        let mut response = (status, Json(json!({ "error": reason }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, auth::CHALLENGE);
        }
        response
    };
    let Some(trust) = inner.config.entra.as_deref() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this emulator trusts no Entra ID issuer; it signs with its access key".into(),
        );
    };
    let token = match auth::bearer_token(&headers, &uri, auth::TokenPlace::Header) {
        Ok(Some(token)) => token,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "missing bearer token".into()),
        Err(reason) => return refuse(StatusCode::UNAUTHORIZED, reason),
    };
    if token.len() > auth::MAX_TOKEN_LENGTH {
        return refuse(StatusCode::UNAUTHORIZED, "access token too long".into());
    }
    let is_rs256 = jsonwebtoken::decode_header(&token)
        .map(|h| h.alg == Algorithm::RS256)
        .unwrap_or(false);
    if !is_rs256 {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a signing key is handed out for an Entra ID token (RS256) only".into(),
        );
    }
    if let Err(reason) = trust.verify_entra(&token, CLOCK_SKEW) {
        return refuse(StatusCode::UNAUTHORIZED, reason);
    }
    let (kid, key) = trust.current_key();
    tracing::debug!(kid = %kid, "handed out a signing key to an Entra ID identity");
    Json(json!({ "KeyId": kid, "AccessKey": key })).into_response()
}

/// The signing-key route, merged into the emulator's app.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(ACCESS_KEY_PATH, get(access_key).post(access_key))
        .with_state(inner)
}
