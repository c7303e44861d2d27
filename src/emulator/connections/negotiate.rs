//! `POST /client/negotiate`: a connection id (and, from version 1, a connection token) and the
//! transports on offer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::emulator::auth::{self};
use crate::emulator::state::{Inner, PendingConnection};

use super::request::{authorize, json_error, query_param, random_id};

pub(super) async fn negotiate(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if inner.is_shutting_down() {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down",
        );
    }
    // Browsers send the negotiate request with an Authorization header: no query token here.
    let (hub, user_id) = match authorize(&inner, &headers, &uri, auth::TokenPlace::Header) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let version: u32 = query_param(&uri, "negotiateVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let connection_id = random_id(16);
    let token = if version >= 1 {
        random_id(32)
    } else {
        connection_id.clone()
    };
    let negotiated = PendingConnection {
        connection_id: connection_id.clone(),
        hub,
        user_id,
        created: std::time::Instant::now(),
    };
    if let Err(refused) = inner.add_negotiation(token.clone(), negotiated) {
        let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, refused.reason);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, refused.retry_after.as_secs().into());
        return response;
    }
    let body = NegotiateResponse {
        connection_id: &connection_id,
        connection_token: (version >= 1).then_some(token.as_str()),
        negotiate_version: version.min(1),
        available_transports: &TRANSPORTS,
    };
    Json(body).into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransportOffer {
    transport: &'static str,
    transfer_formats: &'static [&'static str],
}

const TRANSPORTS: [TransportOffer; 3] = [
    TransportOffer {
        transport: "WebSockets",
        transfer_formats: &["Text", "Binary"],
    },
    TransportOffer {
        transport: "ServerSentEvents",
        transfer_formats: &["Text"],
    },
    TransportOffer {
        transport: "LongPolling",
        transfer_formats: &["Text", "Binary"],
    },
];

/// The negotiate answer, fields in the documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NegotiateResponse<'a> {
    connection_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_token: Option<&'a str>,
    negotiate_version: u32,
    available_transports: &'a [TransportOffer],
}
