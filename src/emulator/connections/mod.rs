//! The client endpoint: negotiate, the three transports and the per-connection session.
//!
//! Every transport feeds one session task: received bytes arrive on an `inbound` channel,
//! records leave through a [`wire::Wire`]. The session does the handshake, registers the
//! connection, pumps its bounded outbound queue, pings, and watches for close requests.

mod http;
mod long_polling;
mod negotiate;
mod request;
mod session;
mod sse;
mod websocket;
mod wire;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;

use crate::emulator::auth::{self};
use crate::emulator::state::{Inner, PendingConnection};
use crate::emulator::upstream::ClientContext;
use crate::protocol::TransportType;
use request::{authorize, json_error, other_user, query_param, random_id, refused_negotiation};

/// The client routes, open to pages of any origin like the official emulator's policy (any
/// origin echoed back, with credentials, any method and header): the JavaScript client sends
/// cookies (`withCredentials`) and custom headers (`Authorization`, `X-Requested-With`,
/// `X-SignalR-User-Agent`), so a page on another origin needs both a preflight answer and the
/// headers on every response. The REST API is for servers and gets none of this.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/client/negotiate", post(negotiate::negotiate))
        .route("/client/negotiate/", post(negotiate::negotiate))
        .route("/client", any(transport))
        .route("/client/", any(transport))
        .layer(tower_http::cors::CorsLayer::very_permissive())
        .with_state(inner)
}

async fn transport(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let (hub, user_id) = match authorize(
        &inner,
        &parts.headers,
        &parts.uri,
        auth::TokenPlace::HeaderOrQuery,
    ) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let id = query_param(&parts.uri, "id");
    // What an upstream learns about the client comes from its connect request.
    let context = if inner.config.upstream.get().templates().is_empty() {
        ClientContext::default()
    } else {
        // Already authorized above, so the token is where this request may carry it.
        let token = auth::bearer_token(&parts.headers, &parts.uri, auth::TokenPlace::HeaderOrQuery)
            .ok()
            .flatten();
        ClientContext::new(token.as_deref(), parts.uri.query())
    };
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));

    if parts.method == Method::GET && is_upgrade {
        let negotiated = match id {
            Some(id) => match inner.take_negotiation_for(&id, &hub, user_id.as_deref()) {
                Ok(n) => n,
                Err(refused) => return refused_negotiation(refused),
            },
            // A client that skipped negotiation gets a connection here.
            None => PendingConnection {
                connection_id: random_id(16),
                hub,
                user_id,
                created: std::time::Instant::now(),
            },
        };
        return websocket::upgrade(inner, &mut parts, negotiated, context).await;
    }

    let Some(id) = id else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the 'id' query parameter is required",
        );
    };
    let existing = inner.http_conn(&id);
    if existing
        .as_ref()
        .is_some_and(|c| c.hub == hub && c.user_id != user_id)
    {
        return other_user();
    }
    match parts.method {
        Method::GET => {
            let wants_sse = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/event-stream"));
            match existing {
                Some(conn) if conn.transport == TransportType::LongPolling && conn.hub == hub => {
                    long_polling::long_poll(&inner, &id, &conn).await
                }
                Some(_) => json_error(
                    StatusCode::CONFLICT,
                    "this connection already has a transport",
                ),
                None => {
                    let negotiated = match inner.take_negotiation_for(&id, &hub, user_id.as_deref())
                    {
                        Ok(n) => n,
                        Err(refused) => return refused_negotiation(refused),
                    };
                    if wants_sse {
                        sse::start_sse(inner, id, negotiated, context)
                    } else {
                        long_polling::start_long_polling(inner, id, negotiated, context)
                    }
                }
            }
        }
        Method::POST => match existing.filter(|c| c.hub == hub) {
            Some(conn) => http::post(&inner, &conn, body).await,
            None => json_error(StatusCode::NOT_FOUND, "no such connection"),
        },
        Method::DELETE => match existing.filter(|c| c.hub == hub) {
            Some(conn) => http::delete(&conn),
            None => json_error(StatusCode::NOT_FOUND, "no such connection"),
        },
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
