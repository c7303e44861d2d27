//! `asrs client <user-id>`: the quickstart's client mode. Connects as the user, prints
//! `Client started...` and the connection id, then one line per message received. Exits 0 on
//! Ctrl-C, SIGTERM or end of standard input.

use std::process::ExitCode;

use anyhow::Context as _;
use azure_signalr_rest::listener::{Event, Listener, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use chrono::{DateTime, Local};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::cmd_send::SEND_MESSAGE_TARGET;
use crate::connection::negotiating_hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The user to connect as (REST sends to this user reach the client).
    user_id: String,
    /// Use only this transport [default: WebSockets, then Server-Sent Events, then Long Polling].
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// Hub protocol.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Json)]
    protocol: ProtocolArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportArg {
    WebSockets,
    ServerSentEvents,
    LongPolling,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Json,
    Messagepack,
}

/// The line printed for a received invocation: the quickstart's line for `SendMessage(server,
/// text)`, else the target and its arguments as JSON.
pub(crate) fn format_invocation(at: DateTime<Local>, target: &str, arguments: &[Value]) -> String {
    let time = at.format("%Y-%m-%d %H:%M:%S");
    // Hub method names are case-insensitive in SignalR.
    if target.eq_ignore_ascii_case(SEND_MESSAGE_TARGET)
        && let [server, text] = arguments
    {
        return format!(
            "[{time}] Received message from server {}: {}",
            plain(server),
            plain(text)
        );
    }
    format!(
        "[{time}] Received {target}: {}",
        Value::Array(arguments.to_vec())
    )
}

/// A string without its quotes; anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves when standard input reaches its end. A plain thread: a blocking read must not hold
/// up the runtime's shutdown on Ctrl-C.
fn end_of_input() -> tokio::sync::oneshot::Receiver<()> {
    let (done, ended) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = done.send(());
    });
    ended
}

impl RunnableCmd for ClientArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let hub = negotiating_hub_client(global).await?;
        let mut builder = Listener::builder()
            .hub_client(hub.clone())
            .user_id(self.user_id.clone())
            .protocol(match self.protocol {
                ProtocolArg::Json => HubProtocol::Json,
                ProtocolArg::Messagepack => HubProtocol::MessagePack,
            });
        if let Some(transport) = self.transport {
            builder = builder.transport(match transport {
                TransportArg::WebSockets => TransportType::WebSockets,
                TransportArg::ServerSentEvents => TransportType::ServerSentEvents,
                TransportArg::LongPolling => TransportType::LongPolling,
            });
        }
        // Install the Ctrl-C and SIGTERM handlers first, so either at any point after start-up
        // ends the client with status 0 rather than killing it.
        let ctrl_c =
            crate::signal::stop_requested().context("installing the Ctrl-C/SIGTERM handler")?;
        tokio::pin!(ctrl_c);
        let mut listener = tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            connected = builder.connect() => connected.with_context(|| {
                format!("connecting to hub {} as user {}", hub.name(), self.user_id)
            })?,
        };
        println!("Client started...");
        println!(
            "Connection ID: {}",
            listener.connection_id().unwrap_or_default()
        );
        tracing::info!(transport = ?listener.transport(), "connected");

        let mut input_ended = end_of_input();
        loop {
            tokio::select! {
                _ = &mut ctrl_c => break,
                _ = &mut input_ended => break,
                event = listener.next() => match event {
                    Some(Event::Invocation { target, arguments }) => {
                        println!("{}", format_invocation(Local::now(), &target, &arguments));
                    }
                    Some(Event::Reconnecting { error }) => {
                        println!("Connection lost ({error}); reconnecting...");
                    }
                    Some(Event::Reconnected { connection_id }) => {
                        println!("Reconnected. Connection ID: {connection_id}");
                    }
                    Some(Event::Closed { error }) => {
                        match error {
                            Some(error) => println!("Connection closed: {error}"),
                            None => println!("Connection closed."),
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                    Some(other) => tracing::debug!(event = ?other, "ignored"),
                    None => return Ok(ExitCode::SUCCESS),
                },
            }
        }
        listener.close().await;
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn lines_for_received_messages() {
        let at = Local.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            format_invocation(
                at,
                "SendMessage",
                &["srv".into(), "Hello from server".into()]
            ),
            "[2026-01-02 03:04:05] Received message from server srv: Hello from server"
        );
        assert_eq!(
            format_invocation(at, "newMessage", &["a".into(), 1.into()]),
            r#"[2026-01-02 03:04:05] Received newMessage: ["a",1]"#
        );
        // SendMessage with another shape is shown as JSON too.
        assert_eq!(
            format_invocation(at, "SendMessage", &["only".into()]),
            r#"[2026-01-02 03:04:05] Received SendMessage: ["only"]"#
        );
    }
}
