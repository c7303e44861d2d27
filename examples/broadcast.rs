//! Broadcasts a chat message to every client of a hub.
//!
//! ```text
//! AZURE_SIGNALR_CONNECTION_STRING="Endpoint=http://localhost;Port=8888;AccessKey=...;Version=1.0;" \
//!     cargo run --example broadcast -- chat "hello everyone"
//! ```
//!
//! Arguments: hub (default `chat`) and text (default `hello`). The optional environment variable
//! `AZURE_SIGNALR_API_VERSION` picks `1.0-preview`, `1.0` or `2022-06-01` (the default).

use azure_signalr_rest::{ApiVersion, ConnectionString, Message, ServiceClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connection_string: ConnectionString = std::env::var("AZURE_SIGNALR_CONNECTION_STRING")
        .map_err(|_| "set AZURE_SIGNALR_CONNECTION_STRING")?
        .parse()?;
    let version: ApiVersion = match std::env::var("AZURE_SIGNALR_API_VERSION") {
        Ok(v) => v.parse()?,
        Err(_) => ApiVersion::default(),
    };
    let mut args = std::env::args().skip(1);
    let hub = args.next().unwrap_or_else(|| "chat".into());
    let text = args.next().unwrap_or_else(|| "hello".into());

    let client = ServiceClient::builder()
        .connection_string(&connection_string)
        .api_version(version)
        .build()?;
    // Printing the connection string shows the endpoint, never the key.
    println!("broadcasting to hub `{hub}` via {connection_string} (API {version})");
    client
        .hub(&hub)
        .broadcast(&Message::new("newMessage", ("broadcast", text))?, None)
        .await?;
    println!("accepted");
    Ok(())
}
