//! One client connection's session, whatever its transport: the handshake, registration,
//! the bounded outbound queue, pings, the client timeout and the close.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::emulator::inspect::ConnectionInfo;
use crate::emulator::state::{
    Activity, CloseRequest, ConnHandle, Inner, Outgoing, PendingConnection,
};
use crate::emulator::upstream::{self, ClientContext, UpstreamEvent};
use crate::protocol::TransportType;
use crate::protocol::{
    HandshakeReader, HandshakeRecord, HandshakeRequest, HandshakeResponse, HubMessage, HubProtocol,
    MessageReader,
};

use super::wire::{Inbound, Wire, CLOSE_WRITE_TIMEOUT};

/// Most messages taken from the outbound queue per wake-up and written with one flush.
const SEND_BATCH: usize = 64;

async fn handshake(
    inner: &Inner,
    transport: TransportType,
    wire: &mut Wire,
    inbound: &mut Inbound,
) -> Option<(HubProtocol, Vec<u8>)> {
    let mut reader = HandshakeReader::new();
    let deadline = tokio::time::sleep(inner.config.handshake_timeout);
    tokio::pin!(deadline);
    let HandshakeRecord { record, rest } = loop {
        tokio::select! {
            data = inbound.recv() => {
                let data = data?;
                match reader.take(&data) {
                    Ok(Some(done)) => break done,
                    Ok(None) => continue,
                    Err(e) => {
                        let _ = wire.send(HandshakeResponse::error(e.to_string()).encode().into(), false).await;
                        return None;
                    }
                }
            }
            _ = &mut deadline => {
                tracing::debug!("handshake timed out");
                return None;
            }
        }
    };
    let failure = |message: String| HandshakeResponse::error(message).encode();
    let protocol = match HandshakeRequest::parse(&record) {
        Err(e) => Err(failure(e.to_string())),
        Ok(request) => match request.hub_protocol() {
            None => Err(failure(format!(
                "the protocol '{}' is not supported",
                request.protocol
            ))),
            Some(_) if request.version != 1 => Err(failure(format!(
                "protocol version {} is not supported",
                request.version
            ))),
            Some(HubProtocol::MessagePack) if transport == TransportType::ServerSentEvents => Err(
                failure("the messagepack protocol cannot be used over Server-Sent Events".into()),
            ),
            Some(p) => Ok(p),
        },
    };
    match protocol {
        Ok(p) => {
            let ok = HandshakeResponse::ok().encode();
            wire.send(ok.into(), p.is_binary()).await.ok()?;
            Some((p, rest))
        }
        Err(response) => {
            let _ = wire.send(response.into(), false).await;
            None
        }
    }
}

pub(super) async fn run_session(
    inner: Arc<Inner>,
    negotiated: PendingConnection,
    context: ClientContext,
    transport: TransportType,
    mut wire: Wire,
    mut inbound: Inbound,
    activity: Arc<Activity>,
) {
    let Some((protocol, rest)) = handshake(&inner, transport, &mut wire, &mut inbound).await else {
        wire.finish(&inner, None).await;
        return;
    };
    let binary = protocol.is_binary();
    let info = ConnectionInfo {
        connection_id: negotiated.connection_id,
        hub: negotiated.hub,
        user_id: negotiated.user_id,
        transport,
        protocol,
    };
    let (queue_tx, mut queue_rx) = mpsc::channel(inner.config.outbound_queue);
    let (close_tx, mut close_rx) = watch::channel(None::<CloseRequest>);
    let handle = Arc::new(ConnHandle::new(
        info.clone(),
        queue_tx,
        close_tx,
        inner.config.outbound_budget,
    ));
    if !inner.register(handle.clone()) {
        let close = HubMessage::Close {
            error: Some("The service is shutting down.".into()),
            allow_reconnect: false,
        };
        if let Ok(bytes) = protocol.encode(&close) {
            let _ =
                tokio::time::timeout(CLOSE_WRITE_TIMEOUT, wire.send(bytes.into(), binary)).await;
        }
        wire.finish(&inner, None).await;
        return;
    }
    // Replies from the upstream only exist with an upstream; without one there is no channel
    // (its first block of slots would be most of an idle connection's memory).
    let (upstream, mut replies) = if inner.config.upstream.get().templates().is_empty() {
        (None, None)
    } else {
        let (reply_tx, reply_rx) = mpsc::channel::<Bytes>(16);
        let up = upstream::spawn(inner.clone(), info.clone(), context, reply_tx);
        let _ = up.try_send(UpstreamEvent::Connected);
        (Some(up), Some(reply_rx))
    };

    let ping = protocol
        .encode(&HubMessage::Ping)
        .map(Bytes::from)
        .unwrap_or_default();
    let mut ping_timer = tokio::time::interval(inner.config.ping_interval);
    ping_timer.reset();
    let check_every = (inner.config.client_timeout / 4).max(Duration::from_millis(50));
    let mut timeout_timer = tokio::time::interval(check_every);
    let mut reader = MessageReader::new(protocol, inner.config.max_message_size);
    let mut pending_input = Some(Bytes::from(rest));

    // Resolves once with the close request. Created once and kept across iterations:
    // re-creating it on every wake-up was most of the cost of a delivery.
    let closed = async {
        let _ = close_rx.changed().await;
        close_rx.borrow().clone()
    };
    tokio::pin!(closed);
    let mut batch = Vec::with_capacity(0);

    // Why the loop ended: a Close to send (graceful) or nothing to send.
    let close: Option<CloseRequest> = 'session: loop {
        if let Some(data) = pending_input.take()
            && !data.is_empty()
            && let Some(req) = handle_input(&inner, &info, &mut reader, &data, upstream.as_ref())
        {
            break 'session Some(req);
        }
        tokio::select! {
            biased;
            request = &mut closed => break 'session request,
            // Takes what is queued (up to a batch) and writes it with one flush.
            taken = queue_rx.recv_many(&mut batch, SEND_BATCH) => {
                if taken == 0 {
                    break 'session None;
                }
                let sent = tokio::select! {
                    r = send_batch(&mut wire, &batch, protocol, binary) => r,
                    request = &mut closed => break 'session request,
                };
                if sent.is_err() {
                    break 'session None;
                }
                handle.written(batch.iter().filter_map(|m| m.bytes(protocol)).map(|b| b.len()).sum());
                inner.record_deliveries(
                    &info,
                    batch.iter().filter(|m| m.bytes(protocol).is_some()),
                );
                batch.clear();
            }
            // Already encoded in the client's protocol (the upstream's answer as it came).
            reply = next_reply(&mut replies) => {
                if wire.send(reply, binary).await.is_err() {
                    break 'session None;
                }
            }
            data = inbound.recv() => {
                let Some(data) = data else { break 'session None };
                activity.touch();
                pending_input = Some(data);
            }
            _ = ping_timer.tick() => {
                let sent = tokio::select! {
                    r = wire.send(ping.clone(), binary) => r,
                    _ = &mut closed => break 'session None,
                };
                if sent.is_err() {
                    break 'session None;
                }
            }
            _ = timeout_timer.tick() => {
                if activity.idle() > inner.config.client_timeout {
                    tracing::info!(connection_id = %info.connection_id, "client timed out");
                    break 'session Some(CloseRequest {
                        error: Some("Connection closed: the client sent nothing within the timeout".into()),
                        graceful: true,
                        overflow: false,
                    });
                }
            }
            _ = wire.gone() => break 'session None,
        }
    };

    let close_error = close.as_ref().and_then(|r| r.error.clone());
    // Leave the hub first: from here on nothing new is queued for this connection.
    inner.unregister(&info);
    drop(handle);
    drop(batch);
    let overflow = close
        .as_ref()
        .filter(|r| r.overflow)
        .map(|r| r.error.clone().unwrap_or_default());
    if overflow.is_some() || close.as_ref().is_some_and(|r| !r.graceful) {
        // Nothing queued will be sent: free it now, not after the last writes time out.
        queue_rx.close();
        while queue_rx.try_recv().is_ok() {}
    }
    if let Some(request) = close.filter(|r| r.graceful) {
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
            // Messages accepted before the close still go out, then the Close itself.
            while let Ok(message) = queue_rx.try_recv() {
                if let Some(bytes) = message.bytes(protocol) {
                    if wire.send(bytes, binary).await.is_err() {
                        return;
                    }
                    inner.record_deliveries(&info, [&message]);
                }
            }
            let close = HubMessage::Close {
                error: request.error,
                allow_reconnect: false,
            };
            if let Ok(bytes) = protocol.encode(&close) {
                let _ = wire.send(bytes.into(), binary).await;
            }
        })
        .await;
    }
    if let Some(up) = upstream {
        let _ = up.try_send(UpstreamEvent::Disconnected { error: close_error });
    }
    wire.finish(&inner, overflow.as_deref()).await;
}

/// The next reply from the upstream; never resolves without an upstream, or once it has gone
/// (resolving on a closed channel would spin the session loop).
async fn next_reply(replies: &mut Option<mpsc::Receiver<Bytes>>) -> Bytes {
    if let Some(rx) = replies
        && let Some(reply) = rx.recv().await
    {
        return reply;
    }
    std::future::pending().await
}

/// Writes queued messages with one flush at the end.
async fn send_batch(
    wire: &mut Wire,
    batch: &[Arc<Outgoing>],
    protocol: HubProtocol,
    binary: bool,
) -> Result<(), ()> {
    for message in batch {
        if let Some(bytes) = message.bytes(protocol) {
            wire.feed(bytes, binary).await?;
        }
    }
    wire.flush().await
}

/// Handles bytes from the client; returns a close request when the connection must end.
fn handle_input(
    inner: &Inner,
    info: &ConnectionInfo,
    reader: &mut MessageReader,
    data: &[u8],
    upstream: Option<&mpsc::Sender<UpstreamEvent>>,
) -> Option<CloseRequest> {
    let protocol_error = |e: crate::protocol::ProtocolError| {
        tracing::debug!(connection_id = %info.connection_id, error = %e, "bad message from client");
        Some(CloseRequest {
            error: Some(format!("Connection closed with an error: {e}")),
            graceful: true,
            overflow: false,
        })
    };
    if let Err(e) = reader.push(data) {
        return protocol_error(e);
    }
    loop {
        // With an upstream, invocations are forwarded as received: keep their bytes.
        let next = match upstream {
            Some(_) => reader.next_message_with_payload(),
            None => reader.next_message().map(|m| m.map(|m| (m, Vec::new()))),
        };
        match next {
            Ok(None) => return None,
            Err(e) => return protocol_error(e),
            Ok(Some((HubMessage::Close { .. }, _))) => {
                return Some(CloseRequest {
                    error: None,
                    graceful: false,
                    overflow: false,
                })
            }
            Ok(Some((
                HubMessage::Invocation(inv) | HubMessage::StreamInvocation(inv),
                payload,
            ))) => match upstream {
                Some(up) => {
                    let event = UpstreamEvent::Message {
                        target: inv.target,
                        invocation_id: inv.invocation_id,
                        payload: Bytes::from(payload),
                    };
                    if up.try_send(event).is_err() {
                        tracing::warn!(connection_id = %info.connection_id, "upstream queue full; invocation dropped");
                    }
                }
                None => {
                    let _ = inner;
                    return Some(CloseRequest {
                        error: Some(
                            "Connection closed with an error: invocations are not supported in serverless mode without an upstream URL".into(),
                        ),
                        graceful: true,
                        overflow: false,
                    });
                }
            },
            Ok(Some(_)) => {}
        }
    }
}
