//! A negotiate endpoint for a serverless app: clients `POST /negotiate?userId=<id>` and get
//! `{"url": ..., "accessToken": ...}` to connect to the hub with any SignalR client.
//!
//! ```text
//! AZURE_SIGNALR_CONNECTION_STRING="Endpoint=http://localhost;Port=8888;AccessKey=...;Version=1.0;" \
//!     cargo run --features emulator --example negotiate_server
//! curl -X POST 'http://127.0.0.1:3000/negotiate?userId=alice'
//! ```
//!
//! A real app would take the user id from its own authentication, not from the query string.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use azure_signalr_rest::{HubClient, NegotiateOptions, NegotiateResponse, ServiceClient};
use serde::Deserialize;

#[derive(Deserialize)]
struct Who {
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

async fn negotiate(
    State(hub): State<HubClient>,
    Query(who): Query<Who>,
) -> Result<Json<NegotiateResponse>, (StatusCode, String)> {
    let mut options = NegotiateOptions::default();
    options.user_id = who.user_id;
    hub.negotiate(options)
        .await
        .map(Json)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection_string = std::env::var("AZURE_SIGNALR_CONNECTION_STRING")
        .map_err(|_| "set AZURE_SIGNALR_CONNECTION_STRING")?;
    let hub = ServiceClient::from_connection_string(&connection_string)?.hub("chat");
    let app = Router::new()
        .route("/negotiate", post(negotiate))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "negotiate endpoint on http://{}/negotiate",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
