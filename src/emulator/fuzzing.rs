//! The emulator's HTTP app without sockets, for the fuzz targets in `fuzz/`: one request in,
//! one answer out, through the same routes, middleware and state as a started emulator.
//! Not part of the public API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;

use super::builder::{self, EmulatorBuilder};
use super::state::Inner;

/// The emulator's app, built once and asked many times. Build and use it inside a tokio
/// runtime: the app spawns tasks of its own.
#[doc(hidden)]
pub struct FuzzApp {
    service: TowerToHyperService<Router>,
    access_key: String,
}

/// What the app answered: status, headers and as much of the body as arrived in time (`None`
/// for a body still streaming, e.g. Server-Sent Events).
#[doc(hidden)]
#[derive(Debug)]
pub struct FuzzAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

impl FuzzApp {
    /// The app of an emulator with `builder`'s settings (its bind address is not used).
    pub fn new(builder: EmulatorBuilder) -> FuzzApp {
        let access_key = builder.config.access_key.clone();
        // As `EmulatorBuilder::start` assembles it, less the listeners.
        let app = builder::app(Arc::new(Inner::new(builder.config)));
        FuzzApp {
            service: TowerToHyperService::new(app),
            access_key,
        }
    }

    /// The key that signs valid tokens for this app.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Answers one request; the body is read for at most `body_wait`.
    pub async fn answer(&self, request: Request<Body>, body_wait: Duration) -> FuzzAnswer {
        let response = match self.service.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(body_wait, axum::body::to_bytes(body, usize::MAX))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_vec());
        FuzzAnswer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::Emulator;

    #[tokio::test]
    async fn answers_without_a_socket() {
        let app = FuzzApp::new(Emulator::builder());
        let health = Request::head("/api/health")
            .header("host", "localhost")
            .body(Body::empty())
            .unwrap();
        let answer = app.answer(health, Duration::from_secs(1)).await;
        assert_eq!(answer.status, StatusCode::OK);
        let send = Request::post("/api/hubs/chat/:send")
            .header("host", "localhost")
            .body(Body::from(r#"{"target":"t","arguments":[]}"#))
            .unwrap();
        let answer = app.answer(send, Duration::from_secs(1)).await;
        // A send needs a token: the route and its authentication ran.
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.headers.contains_key("www-authenticate"));
    }
}
