//! The emulator's state, behind one type: [`Inner`].
//!
//! One module per concern, each owning its maps: [`hubs`] (connections, users, groups and
//! memberships of every hub), [`negotiations`] (negotiations waiting for their transport),
//! [`http_conns`] (the HTTP side of SSE and Long Polling connections), [`fanout`] (a message
//! and each connection's outbound queue) and [`deliveries`] (what the inspection API sees).
//! `Inner`'s methods are the only way in, and each takes one lock, touches a handful of map
//! entries and never awaits while holding it (the layout of tokio-rs/mini-redis's `db.rs`).

mod deliveries;
mod fanout;
mod http_conns;
mod hubs;
pub(crate) mod negotiations;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{broadcast, Notify};

use crate::emulator::config::Settings;
use crate::emulator::inspect::{ConnectionInfo, Cutoff, Delivery, HubSnapshot};
pub(crate) use deliveries::InspectionEvent;
pub(crate) use fanout::{CloseRequest, ConnHandle, Outgoing};
pub(crate) use http_conns::{Activity, HttpConn};
pub(crate) use negotiations::{PendingConnection, Refused, TakeRefused};

/// Everything an emulator knows, shared by its handlers, sessions and handle.
pub(crate) struct Inner {
    /// The settings it was started with (the upstream settings inside can be replaced).
    pub config: Settings,
    /// Every hub's connections and memberships.
    hubs: Mutex<hubs::Hubs>,
    /// Negotiations waiting for their transport, with their limits.
    pending: Mutex<negotiations::Pending>,
    /// SSE and Long Polling connections by connection token.
    http_conns: Mutex<http_conns::HttpConns>,
    /// Recent deliveries, for [`EmulatorHandle::deliveries`](crate::emulator::EmulatorHandle::deliveries).
    record: Mutex<deliveries::Record>,
    /// Clients closed for falling behind.
    cutoffs: Mutex<deliveries::Cutoffs>,
    /// Deliveries, connects and disconnects, for the handle's waits.
    pub events: broadcast::Sender<InspectionEvent>,
    /// Set once by shutdown: no connection is registered after it.
    shutting_down: AtomicBool,
    /// Woken when the last connection leaves.
    all_closed: Notify,
    /// The HTTP client that calls upstreams.
    pub http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way that
    // matters more than stopping the emulator would.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A close asked for by the service (REST close calls, shutdown): graceful, not an overflow.
fn service_close(error: Option<String>) -> CloseRequest {
    CloseRequest {
        error,
        graceful: true,
        overflow: false,
    }
}

impl Inner {
    pub(crate) fn new(config: Settings) -> Self {
        let (events, _) = broadcast::channel(1024);
        Inner {
            config,
            hubs: Mutex::default(),
            pending: Mutex::default(),
            http_conns: Mutex::default(),
            record: Mutex::default(),
            cutoffs: Mutex::default(),
            events,
            shutting_down: AtomicBool::new(false),
            all_closed: Notify::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    // ---- negotiations ----

    pub(crate) fn add_negotiation(
        &self,
        token: String,
        negotiated: PendingConnection,
    ) -> Result<(), Refused> {
        let limits = self.config.negotiation_limits;
        lock(&self.pending).add(token, negotiated, limits)
    }

    /// Takes the negotiation of `token` for a request to `hub` by `user`; one made by another
    /// user stays where it is, so its owner can still connect.
    pub(crate) fn take_negotiation_for(
        &self,
        token: &str,
        hub: &str,
        user: Option<&str>,
    ) -> Result<PendingConnection, TakeRefused> {
        lock(&self.pending).take_for(token, hub, user)
    }

    // ---- HTTP-transport connections ----

    pub(crate) fn http_conn(&self, token: &str) -> Option<Arc<HttpConn>> {
        lock(&self.http_conns).get(token)
    }

    pub(crate) fn add_http_conn(&self, token: String, conn: Arc<HttpConn>) {
        lock(&self.http_conns).insert(token, conn);
    }

    pub(crate) fn remove_http_conn(&self, token: &str) {
        lock(&self.http_conns).remove(token);
    }

    // ---- connections ----

    /// Adds a connection after its handshake; false when the emulator is shutting down.
    pub(crate) fn register(&self, conn: Arc<ConnHandle>) -> bool {
        {
            let mut hubs = lock(&self.hubs);
            if self.is_shutting_down() {
                return false;
            }
            hubs.entry(&conn.info.hub).add_connection(conn.clone());
        }
        tracing::info!(hub = %conn.info.hub, connection_id = %conn.info.connection_id,
            transport = ?conn.info.transport, protocol = conn.info.protocol.name(), "client connected");
        let _ = self
            .events
            .send(InspectionEvent::Connected(conn.info.clone()));
        true
    }

    pub(crate) fn unregister(&self, info: &ConnectionInfo) {
        let now_empty = {
            let mut hubs = lock(&self.hubs);
            if let Some(hub) = hubs.get_mut(&info.hub) {
                hub.remove_connection(info);
                hubs.drop_if_empty(&info.hub);
            }
            hubs.no_connections()
        };
        tracing::info!(hub = %info.hub, connection_id = %info.connection_id, "client disconnected");
        let _ = self
            .events
            .send(InspectionEvent::Disconnected(info.clone()));
        if now_empty {
            self.all_closed.notify_waiters();
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let hubs = lock(&self.hubs);
        for conn in hubs.connections() {
            conn.request_close(service_close(Some("The service is shutting down.".into())));
        }
    }

    pub(crate) async fn wait_all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            if lock(&self.hubs).no_connections() {
                return;
            }
            notified.await;
        }
    }

    // ---- queries ----

    /// Asks `query` about `hub`; a hub nobody is in answers `false`.
    fn ask(&self, hub: &str, query: impl FnOnce(&hubs::Hub) -> bool) -> bool {
        lock(&self.hubs).get(hub).is_some_and(query)
    }

    pub(crate) fn connection_exists(&self, hub: &str, conn: &str) -> bool {
        self.ask(hub, |h| h.connection(conn).is_some())
    }

    pub(crate) fn user_exists(&self, hub: &str, user: &str) -> bool {
        self.ask(hub, |h| h.user_exists(user))
    }

    pub(crate) fn group_exists(&self, hub: &str, group: &str) -> bool {
        self.ask(hub, |h| h.group_exists(group, Instant::now()))
    }

    pub(crate) fn user_in_group(&self, hub: &str, group: &str, user: &str) -> bool {
        self.ask(hub, |h| h.user_in_group(user, group, Instant::now()))
    }

    // ---- sends ----

    /// Queues `message` for the connections `pick` chooses. The lock is held only to collect
    /// them; queueing happens after it is released.
    fn fan_out(
        &self,
        hub: &str,
        message: Arc<Outgoing>,
        pick: impl FnOnce(&hubs::Hub) -> Vec<Arc<ConnHandle>>,
    ) {
        let recipients = lock(&self.hubs).get(hub).map(pick).unwrap_or_default();
        tracing::debug!(hub, target = %message.target, recipients = recipients.len(), "fan-out");
        for conn in recipients {
            if let Some(cutoff) = conn.deliver(&message) {
                self.record_cutoff(cutoff);
            }
        }
    }

    pub(crate) fn send_all(&self, hub: &str, message: Arc<Outgoing>, excluded: &HashSet<String>) {
        self.fan_out(hub, message, |h| h.all_except(excluded));
    }

    pub(crate) fn send_users(&self, hub: &str, message: Arc<Outgoing>, users: &[String]) {
        self.fan_out(hub, message, |h| h.of_users(users));
    }

    pub(crate) fn send_connection(&self, hub: &str, message: Arc<Outgoing>, conn: &str) {
        self.fan_out(hub, message, |h| {
            h.connection(conn).cloned().into_iter().collect()
        });
    }

    pub(crate) fn send_groups(
        &self,
        hub: &str,
        message: Arc<Outgoing>,
        groups: &[String],
        excluded: &HashSet<String>,
    ) {
        let now = Instant::now();
        self.fan_out(hub, message, |h| h.in_groups(groups, excluded, now));
    }

    // ---- membership ----

    /// Changes `hub`'s membership, creating the hub when `create`; false when there is no
    /// such hub or `change` says so.
    fn change(&self, hub: &str, create: bool, change: impl FnOnce(&mut hubs::Hub) -> bool) -> bool {
        let mut hubs = lock(&self.hubs);
        match hubs.get_mut(hub) {
            Some(h) => change(h),
            None if create => change(hubs.entry(hub)),
            None => false,
        }
    }

    /// Adds a connection to a group; false when the connection does not exist.
    pub(crate) fn add_conn_to_group(&self, hub: &str, group: &str, conn: &str) -> bool {
        self.change(hub, false, |h| h.add_to_group(group, conn))
    }

    /// Removes a connection from a group; false when the connection does not exist.
    pub(crate) fn remove_conn_from_group(&self, hub: &str, group: &str, conn: &str) -> bool {
        self.change(hub, false, |h| h.remove_from_group(group, conn))
    }

    /// Removes a connection from every group; false when the connection does not exist.
    pub(crate) fn remove_conn_from_all_groups(&self, hub: &str, conn: &str) -> bool {
        self.change(hub, false, |h| h.remove_from_all_groups(conn))
    }

    /// Adds a user to a group. `ttl` of zero adds only the user's current connections;
    /// `None` is long-lived (latest 100 per user kept).
    pub(crate) fn add_user_to_group(&self, hub: &str, group: &str, user: &str, ttl: Option<u64>) {
        let now = Instant::now();
        self.change(hub, true, |h| {
            h.add_user_to_group(group, user, ttl, now);
            true
        });
    }

    /// Removes a user (its membership and its connections' direct membership) from a group.
    pub(crate) fn remove_user_from_group(&self, hub: &str, group: &str, user: &str) {
        self.change(hub, false, |h| {
            h.remove_user_from_group(group, user);
            true
        });
    }

    pub(crate) fn remove_user_from_all_groups(&self, hub: &str, user: &str) {
        self.change(hub, false, |h| {
            h.remove_user_from_all_groups(user);
            true
        });
    }

    // ---- closing ----

    /// Asks the connections `pick` chooses to close, but the excluded ones; how many.
    fn close_where(
        &self,
        hub: &str,
        reason: Option<String>,
        excluded: &HashSet<String>,
        pick: impl FnOnce(&hubs::Hub) -> Vec<Arc<ConnHandle>>,
    ) -> usize {
        let targets = lock(&self.hubs).get(hub).map(pick).unwrap_or_default();
        let mut count = 0;
        for conn in targets {
            if !excluded.contains(&conn.info.connection_id) {
                conn.request_close(service_close(reason.clone()));
                count += 1;
            }
        }
        count
    }

    pub(crate) fn close_connection(&self, hub: &str, conn: &str, reason: Option<String>) -> bool {
        self.close_where(hub, reason, &HashSet::new(), |h| {
            h.connection(conn).cloned().into_iter().collect()
        }) > 0
    }

    pub(crate) fn close_all(&self, hub: &str, reason: Option<String>, excluded: &HashSet<String>) {
        self.close_where(hub, reason, excluded, |h| h.all_except(&HashSet::new()));
    }

    pub(crate) fn close_group(
        &self,
        hub: &str,
        group: &str,
        reason: Option<String>,
        excluded: &HashSet<String>,
    ) {
        let now = Instant::now();
        let groups = [group.to_string()];
        self.close_where(hub, reason, excluded, |h| {
            h.in_groups(&groups, &HashSet::new(), now)
        });
    }

    pub(crate) fn close_user(
        &self,
        hub: &str,
        user: &str,
        reason: Option<String>,
        excluded: &HashSet<String>,
    ) {
        let users = [user.to_string()];
        self.close_where(hub, reason, excluded, |h| h.of_users(&users));
    }

    // ---- inspection ----

    /// Records `messages` as written to `info`'s connection, if anyone can see a delivery: the
    /// record is on, or someone waits for an event. Asked once per batch, since copying ids
    /// and arguments for nobody would cost every delivery for nothing; `messages` is not
    /// iterated otherwise.
    pub(crate) fn record_deliveries<'a>(
        &self,
        info: &ConnectionInfo,
        messages: impl IntoIterator<Item = &'a Arc<Outgoing>>,
    ) {
        if self.config.delivery_record == 0 && self.events.receiver_count() == 0 {
            return;
        }
        for message in messages {
            self.record_delivery(info, message);
        }
    }

    fn record_delivery(&self, info: &ConnectionInfo, message: &Arc<Outgoing>) {
        let delivery = Delivery {
            hub: info.hub.clone(),
            connection_id: info.connection_id.clone(),
            user_id: info.user_id.clone(),
            target: message.target.clone(),
            arguments: message.arguments.clone(),
            at: SystemTime::now(),
        };
        if self.config.delivery_record > 0 {
            lock(&self.record).push(
                delivery.clone(),
                message.clone(),
                self.config.delivery_record,
            );
        }
        let _ = self
            .events
            .send(InspectionEvent::Delivered(Arc::new(delivery)));
    }

    fn record_cutoff(&self, cutoff: Cutoff) {
        tracing::warn!(hub = %cutoff.hub, connection_id = %cutoff.connection_id,
            queued_bytes = cutoff.queued_bytes, reason = %cutoff.reason,
            "slow client closed: it fell behind its outbound budget");
        lock(&self.cutoffs).push(cutoff);
    }

    pub(crate) fn cutoffs(&self) -> Vec<Cutoff> {
        lock(&self.cutoffs).list()
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.record).deliveries()
    }

    pub(crate) fn all_connections(&self) -> Vec<ConnectionInfo> {
        lock(&self.hubs)
            .connections()
            .map(|c| c.info.clone())
            .collect()
    }

    pub(crate) fn hub_names(&self) -> Vec<String> {
        lock(&self.hubs).names()
    }

    pub(crate) fn snapshot(&self, hub: &str) -> HubSnapshot {
        lock(&self.hubs)
            .get(hub)
            .map(|h| h.snapshot(Instant::now()))
            .unwrap_or_default()
    }
}
