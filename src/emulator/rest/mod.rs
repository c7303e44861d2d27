//! The data-plane REST API of the three published versions, on one port.
//!
//! A request goes through three steps, each in its own file: [`routes`] finds its version and
//! [`Operation`](crate::Operation) in the route table, [`call`] authenticates it and checks
//! what every operation needs (the hub, `application`, `api-version`), and [`ops`] does the
//! operation, one small function each.
//!
//! Answers follow what Microsoft's .NET server SDK reads: 2022-06-01 errors are `ErrorDetail`
//! JSON with the same code in `x-ms-error-code`, and a 404 names what is missing with the codes
//! the SDK tells apart (see [`errors::code`]); the user-in-group check answers GET (what the
//! SDK uses) as well as HEAD. A 2022-06-01 `:send` body may also be the SDK's binary payload
//! map (`application/octet-stream` or `application/x-msgpack`), delivered to each client as
//! sent.

mod body;
mod call;
mod errors;
mod ops;
mod routes;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::auth;
use super::state::Inner;
use errors::ApiError;
use routes::Miss;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let matched = match routes::find(&parts.method, parts.uri.path()) {
        Ok(matched) => matched,
        Err(miss) => {
            let err = match miss {
                Miss::NotFound => {
                    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such API path")
                }
                Miss::MethodNotAllowed => ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    format!("method {} is not allowed on this path", parts.method),
                ),
            };
            return err.into_response(routes::version_of(parts.uri.path()));
        }
    };
    let version = matched.version;
    let operation = matched.operation;
    let answer = match call::Call::new(&inner, matched, &parts) {
        Ok(None) => Ok(ops::health(&inner)),
        Ok(Some(call)) => ops::perform(operation, call, &parts.headers, body).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(status) => status.into_response(),
        Err(e) => {
            tracing::debug!(%operation, status = %e.status, reason = %e.message, "REST call rejected");
            let challenge = e.status == StatusCode::UNAUTHORIZED;
            let mut response = e.into_response(version);
            if challenge {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, auth::CHALLENGE);
            }
            response
        }
    }
}
