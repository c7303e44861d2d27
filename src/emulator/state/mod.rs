//! Hub state (connections, users, groups) and fan-out.
//!
//! One mutex guards all hubs: every operation touches a handful of map entries and never
//! awaits while holding it. Recipients are found through indexes (user -> connections,
//! group -> connections, group -> users), never by scanning every connection.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch, Notify};

use super::{Config, ConnectionInfo, Cutoff, Delivery, HubSnapshot};
use crate::protocol::{HubMessage, HubProtocol, Invocation};

/// Groups kept per user without a ttl; older ones are dropped first.
const MAX_LONG_LIVED_GROUPS_PER_USER: usize = 100;
/// "Long-lived" user-group membership still ends after a year.
const LONG_LIVED: Duration = Duration::from_secs(365 * 24 * 3600);

/// A message to fan out: encoded at most once per protocol, however many receive it, and
/// shared (not copied) by the delivery record.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub target: String,
    pub arguments: Arc<Vec<Value>>,
    json: OnceLock<Option<Bytes>>,
    msgpack: OnceLock<Option<Bytes>>,
    /// Entries of the delivery record that hold this message.
    recorded: AtomicUsize,
}

impl Outgoing {
    pub fn new(target: String, arguments: Vec<Value>) -> Arc<Self> {
        Arc::new(Outgoing {
            target,
            arguments: Arc::new(arguments),
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
            recorded: AtomicUsize::new(0),
        })
    }

    /// A message whose records arrived already encoded (a binary REST send): each protocol's
    /// clients get exactly these bytes, and none for a protocol left out. `target` and
    /// `arguments` only describe it in the delivery record.
    pub fn pre_encoded(
        target: String,
        arguments: Vec<Value>,
        json: Option<Bytes>,
        msgpack: Option<Bytes>,
    ) -> Arc<Self> {
        Arc::new(Outgoing {
            target,
            arguments: Arc::new(arguments),
            json: OnceLock::from(json),
            msgpack: OnceLock::from(msgpack),
            recorded: AtomicUsize::new(0),
        })
    }

    /// The encoded record, `None` if the message cannot be encoded in this protocol.
    pub fn bytes(&self, protocol: HubProtocol) -> Option<Bytes> {
        let cell = match protocol {
            HubProtocol::Json => &self.json,
            HubProtocol::MessagePack => &self.msgpack,
        };
        cell.get_or_init(|| {
            let invocation = Invocation::new(self.target.clone(), (*self.arguments).clone());
            protocol
                .encode(&HubMessage::Invocation(invocation))
                .ok()
                .map(Bytes::from)
        })
        .clone()
    }

    /// Approximate memory held by the message (its JSON size, else its MessagePack size).
    fn size(&self) -> usize {
        self.bytes(HubProtocol::Json)
            .or_else(|| self.bytes(HubProtocol::MessagePack))
            .map_or(0, |b| b.len())
    }
}

/// Why and how a connection is to be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    /// The error carried by the Close message (`None`: a normal close).
    pub error: Option<String>,
    /// Whether the client can write at all (false for a client that stopped reading).
    pub graceful: bool,
    /// The client fell behind its outbound budget: what is queued is dropped, not sent, and
    /// a WebSocket ends with status 1008 and the error as its reason.
    pub overflow: bool,
}

/// The emulator's handle on one live connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub info: ConnectionInfo,
    queue: mpsc::Sender<Arc<Outgoing>>,
    close: watch::Sender<Option<CloseRequest>>,
    /// Encoded bytes queued or being written, counted against `budget`.
    queued_bytes: AtomicUsize,
    budget: usize,
}

impl ConnHandle {
    pub fn new(
        info: ConnectionInfo,
        queue: mpsc::Sender<Arc<Outgoing>>,
        close: watch::Sender<Option<CloseRequest>>,
        budget: usize,
    ) -> Self {
        ConnHandle {
            info,
            queue,
            close,
            queued_bytes: AtomicUsize::new(0),
            budget,
        }
    }

    /// Queues a message; a client past its budget (bytes or count) is closed and told why.
    /// Returns the cut-off when this call closed it.
    fn deliver(&self, message: &Arc<Outgoing>) -> Option<Cutoff> {
        let size = message.bytes(self.info.protocol).map_or(0, |b| b.len());
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        // One message is always let in, so a budget below the message size still delivers.
        let error = if before > 0 && before + size > self.budget {
            format!(
                "Connection closed: the client fell behind by more than {} bytes of messages",
                self.budget
            )
        } else {
            match self.queue.try_send(message.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return None,
                Err(mpsc::error::TrySendError::Full(_)) => format!(
                    "Connection closed: the client fell behind by more than {} messages",
                    self.queue.max_capacity()
                ),
            }
        };
        self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        let first = self.request_close(CloseRequest {
            error: Some(error.clone()),
            graceful: true,
            overflow: true,
        });
        first.then(|| Cutoff {
            hub: self.info.hub.clone(),
            connection_id: self.info.connection_id.clone(),
            user_id: self.info.user_id.clone(),
            queued_bytes: before,
            reason: error,
            at: SystemTime::now(),
        })
    }

    /// Takes written messages' bytes off the budget.
    pub fn written(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Asks the connection's session to close; the first request wins (true for it).
    pub fn request_close(&self, request: CloseRequest) -> bool {
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(request);
                true
            } else {
                false
            }
        })
    }
}

#[derive(Debug)]
struct UserMembership {
    expires: Instant,
    /// Set for memberships without ttl, ordering them for the per-user cap.
    long_lived_seq: Option<u64>,
}

#[derive(Debug, Default)]
struct Hub {
    connections: HashMap<String, Arc<ConnHandle>>,
    /// user -> its connection ids
    users: HashMap<String, HashSet<String>>,
    /// group -> connection ids added directly
    groups: HashMap<String, HashSet<String>>,
    /// connection -> groups it was added to directly
    conn_groups: HashMap<String, HashSet<String>>,
    /// user -> group -> membership (outlives the user's connections)
    user_groups: HashMap<String, HashMap<String, UserMembership>>,
    /// group -> users with a membership
    group_users: HashMap<String, HashSet<String>>,
}

impl Hub {
    fn user_in_group_live(&self, user: &str, group: &str, now: Instant) -> bool {
        self.user_groups
            .get(user)
            .and_then(|g| g.get(group))
            .is_some_and(|m| m.expires > now)
    }

    /// Connection ids in `group`, directly or through their user.
    fn group_members(&self, group: &str, now: Instant) -> HashSet<String> {
        let mut ids: HashSet<String> = self.groups.get(group).cloned().unwrap_or_default();
        if let Some(users) = self.group_users.get(group) {
            for user in users {
                if self.user_in_group_live(user, group, now) {
                    if let Some(conns) = self.users.get(user) {
                        ids.extend(conns.iter().cloned());
                    }
                }
            }
        }
        ids
    }

    fn remove_user_membership(&mut self, user: &str, group: &str) -> bool {
        let removed = self
            .user_groups
            .get_mut(user)
            .and_then(|g| g.remove(group))
            .is_some();
        if self.user_groups.get(user).is_some_and(HashMap::is_empty) {
            self.user_groups.remove(user);
        }
        unindex(&mut self.group_users, group, user);
        removed
    }

    fn remove_conn_from_group(&mut self, conn: &str, group: &str) -> bool {
        unindex(&mut self.conn_groups, conn, group);
        unindex(&mut self.groups, group, conn)
    }

    fn remove_conn_from_all_groups(&mut self, conn: &str) {
        for group in self.conn_groups.remove(conn).unwrap_or_default() {
            unindex(&mut self.groups, &group, conn);
        }
    }

    fn is_empty(&self) -> bool {
        self.connections.is_empty() && self.user_groups.is_empty() && self.groups.is_empty()
    }
}

/// What the inspection API listens to.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Delivered(Arc<Delivery>),
    Connected(ConnectionInfo),
    Disconnected(ConnectionInfo),
}

/// A connection that negotiated but has not opened its transport yet.
#[derive(Debug, Clone)]
pub(crate) struct Negotiated {
    pub connection_id: String,
    pub hub: String,
    pub user_id: Option<String>,
    pub created: Instant,
}

/// Milliseconds-since-start clock shared by a session and its HTTP requests.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    /// A long poll is waiting: the client is there even though it sends nothing.
    pub polling: AtomicBool,
}

impl Activity {
    pub fn new() -> Self {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            polling: AtomicBool::new(false),
        }
    }

    pub fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub fn idle(&self) -> Duration {
        if self.polling.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// The bytes the delivery record may hold in distinct messages; oldest entries go first.
const RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Recent deliveries, bounded by count and by the size of the distinct messages they hold
/// (a broadcast to many connections counts once).
#[derive(Default)]
struct Record {
    entries: VecDeque<(Delivery, Arc<Outgoing>)>,
    bytes: usize,
}

impl Record {
    fn push(&mut self, delivery: Delivery, message: Arc<Outgoing>, max_entries: usize) {
        if message.recorded.fetch_add(1, Ordering::Relaxed) == 0 {
            self.bytes += message.size();
        }
        self.entries.push_back((delivery, message));
        while self.entries.len() > max_entries
            || (self.bytes > RECORD_BYTES && self.entries.len() > 1)
        {
            let Some((_, old)) = self.entries.pop_front() else {
                break;
            };
            if old.recorded.fetch_sub(1, Ordering::Relaxed) == 1 {
                self.bytes = self.bytes.saturating_sub(old.size());
            }
        }
    }
}

pub(crate) struct Inner {
    pub config: Config,
    hubs: Mutex<HashMap<String, Hub>>,
    pending: Mutex<super::negotiations::Pending>,
    record: Mutex<Record>,
    pub events: broadcast::Sender<Event>,
    shutting_down: AtomicBool,
    all_closed: Notify,
    seq: AtomicU64,
    pub http: reqwest::Client,
    /// HTTP-transport connections (SSE, Long Polling) by connection token.
    pub http_conns: Mutex<HashMap<String, Arc<super::client::HttpConn>>>,
    /// Clients closed for falling behind, newest last (at most `MAX_CUTOFFS`).
    cutoffs: Mutex<VecDeque<Cutoff>>,
}

/// Slow-consumer cut-offs kept for inspection.
const MAX_CUTOFFS: usize = 1000;

/// Why a negotiation could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeRefused {
    /// No such (live) negotiation for this hub.
    Missing,
    /// It belongs to another user.
    OtherUser,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way that
    // matters more than stopping the emulator would.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    pub fn new(config: Config) -> Self {
        let (events, _) = broadcast::channel(1024);
        Inner {
            config,
            hubs: Mutex::new(HashMap::new()),
            pending: Mutex::new(Default::default()),
            record: Mutex::new(Record::default()),
            events,
            shutting_down: AtomicBool::new(false),
            all_closed: Notify::new(),
            seq: AtomicU64::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            http_conns: Mutex::new(HashMap::new()),
            cutoffs: Mutex::new(VecDeque::new()),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    // ---- negotiation ----

    pub fn add_negotiation(
        &self,
        token: String,
        negotiated: Negotiated,
    ) -> Result<(), super::negotiations::Refused> {
        let limits = self.config.negotiation_limits;
        lock(&self.pending).add(token, negotiated, limits)
    }

    /// Takes the negotiation of `token` for a request to `hub` by `user`; one made by another
    /// user stays where it is, so its owner can still connect.
    pub fn take_negotiation_for(
        &self,
        token: &str,
        hub: &str,
        user: Option<&str>,
    ) -> Result<Negotiated, TakeRefused> {
        let mut pending = lock(&self.pending);
        match pending.get(token) {
            Some(n) if n.hub != hub => Err(TakeRefused::Missing),
            Some(n) if n.user_id.as_deref() != user => Err(TakeRefused::OtherUser),
            Some(_) => pending.take(token).ok_or(TakeRefused::Missing),
            None => Err(TakeRefused::Missing),
        }
    }

    // ---- connections ----

    /// Adds a connection after its handshake; false when the emulator is shutting down.
    pub fn register(&self, conn: Arc<ConnHandle>) -> bool {
        {
            let mut hubs = lock(&self.hubs);
            if self.is_shutting_down() {
                return false;
            }
            let hub = hubs.entry(conn.info.hub.clone()).or_default();
            let id = conn.info.connection_id.clone();
            if let Some(user) = &conn.info.user_id {
                hub.users
                    .entry(user.clone())
                    .or_default()
                    .insert(id.clone());
            }
            hub.connections.insert(id, conn.clone());
        }
        tracing::info!(hub = %conn.info.hub, connection_id = %conn.info.connection_id,
            transport = ?conn.info.transport, protocol = conn.info.protocol.name(), "client connected");
        let _ = self.events.send(Event::Connected(conn.info.clone()));
        true
    }

    pub fn unregister(&self, info: &ConnectionInfo) {
        let now_empty = {
            let mut hubs = lock(&self.hubs);
            if let Some(hub) = hubs.get_mut(&info.hub) {
                hub.connections.remove(&info.connection_id);
                if let Some(user) = &info.user_id {
                    unindex(&mut hub.users, user, &info.connection_id);
                }
                hub.remove_conn_from_all_groups(&info.connection_id);
                if hub.is_empty() {
                    hubs.remove(&info.hub);
                }
            }
            hubs.values().all(|h| h.connections.is_empty())
        };
        tracing::info!(hub = %info.hub, connection_id = %info.connection_id, "client disconnected");
        let _ = self.events.send(Event::Disconnected(info.clone()));
        if now_empty {
            self.all_closed.notify_waiters();
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let hubs = lock(&self.hubs);
        for conn in hubs.values().flat_map(|h| h.connections.values()) {
            conn.request_close(CloseRequest {
                error: Some("The service is shutting down.".into()),
                graceful: true,
                overflow: false,
            });
        }
    }

    pub async fn wait_all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            if lock(&self.hubs).values().all(|h| h.connections.is_empty()) {
                return;
            }
            notified.await;
        }
    }

    // ---- queries ----

    pub fn connection_exists(&self, hub: &str, conn: &str) -> bool {
        lock(&self.hubs)
            .get(hub)
            .is_some_and(|h| h.connections.contains_key(conn))
    }

    pub fn user_exists(&self, hub: &str, user: &str) -> bool {
        lock(&self.hubs)
            .get(hub)
            .is_some_and(|h| h.users.get(user).is_some_and(|c| !c.is_empty()))
    }

    pub fn group_exists(&self, hub: &str, group: &str) -> bool {
        lock(&self.hubs)
            .get(hub)
            .is_some_and(|h| !h.group_members(group, Instant::now()).is_empty())
    }

    pub fn user_in_group(&self, hub: &str, group: &str, user: &str) -> bool {
        let hubs = lock(&self.hubs);
        let Some(h) = hubs.get(hub) else {
            return false;
        };
        let now = Instant::now();
        h.user_in_group_live(user, group, now)
            || h.users.get(user).is_some_and(|conns| {
                h.groups
                    .get(group)
                    .is_some_and(|members| conns.iter().any(|c| members.contains(c)))
            })
    }

    // ---- sends ----

    fn fan_out(
        &self,
        hub: &str,
        message: Arc<Outgoing>,
        pick: impl FnOnce(&Hub) -> Vec<Arc<ConnHandle>>,
    ) {
        let recipients = {
            let hubs = lock(&self.hubs);
            match hubs.get(hub) {
                Some(h) => pick(h),
                None => Vec::new(),
            }
        };
        tracing::debug!(hub, target = %message.target, recipients = recipients.len(), "fan-out");
        for conn in recipients {
            if let Some(cutoff) = conn.deliver(&message) {
                self.record_cutoff(cutoff);
            }
        }
    }

    pub fn send_all(&self, hub: &str, message: Arc<Outgoing>, excluded: &HashSet<String>) {
        self.fan_out(hub, message, |h| {
            h.connections
                .iter()
                .filter(|(id, _)| !excluded.contains(*id))
                .map(|(_, c)| c.clone())
                .collect()
        });
    }

    pub fn send_users(&self, hub: &str, message: Arc<Outgoing>, users: &[String]) {
        self.fan_out(hub, message, |h| {
            let ids: HashSet<&String> = users
                .iter()
                .filter_map(|u| h.users.get(u))
                .flatten()
                .collect();
            ids.into_iter()
                .filter_map(|id| h.connections.get(id).cloned())
                .collect()
        });
    }

    pub fn send_connection(&self, hub: &str, message: Arc<Outgoing>, conn: &str) {
        self.fan_out(hub, message, |h| {
            h.connections.get(conn).cloned().into_iter().collect()
        });
    }

    pub fn send_groups(
        &self,
        hub: &str,
        message: Arc<Outgoing>,
        groups: &[String],
        excluded: &HashSet<String>,
    ) {
        let now = Instant::now();
        self.fan_out(hub, message, |h| {
            let mut ids = HashSet::new();
            for g in groups {
                ids.extend(h.group_members(g, now));
            }
            ids.into_iter()
                .filter(|id| !excluded.contains(id))
                .filter_map(|id| h.connections.get(&id).cloned())
                .collect()
        });
    }

    // ---- membership ----

    /// Adds a connection to a group; false when the connection does not exist.
    pub fn add_conn_to_group(&self, hub: &str, group: &str, conn: &str) -> bool {
        let mut hubs = lock(&self.hubs);
        let Some(h) = hubs.get_mut(hub) else {
            return false;
        };
        if !h.connections.contains_key(conn) {
            return false;
        }
        h.groups
            .entry(group.to_string())
            .or_default()
            .insert(conn.to_string());
        h.conn_groups
            .entry(conn.to_string())
            .or_default()
            .insert(group.to_string());
        true
    }

    /// Removes a connection from a group; false when the connection does not exist.
    pub fn remove_conn_from_group(&self, hub: &str, group: &str, conn: &str) -> bool {
        let mut hubs = lock(&self.hubs);
        let Some(h) = hubs.get_mut(hub) else {
            return false;
        };
        if !h.connections.contains_key(conn) {
            return false;
        }
        h.remove_conn_from_group(conn, group);
        true
    }

    /// Removes a connection from every group; false when the connection does not exist.
    pub fn remove_conn_from_all_groups(&self, hub: &str, conn: &str) -> bool {
        let mut hubs = lock(&self.hubs);
        let Some(h) = hubs.get_mut(hub) else {
            return false;
        };
        if !h.connections.contains_key(conn) {
            return false;
        }
        h.remove_conn_from_all_groups(conn);
        true
    }

    /// Adds a user to a group. `ttl` of zero adds only the user's current connections;
    /// `None` is long-lived (latest 100 per user kept).
    pub fn add_user_to_group(&self, hub: &str, group: &str, user: &str, ttl: Option<u64>) {
        let mut hubs = lock(&self.hubs);
        let h = hubs.entry(hub.to_string()).or_default();
        let now = Instant::now();
        match ttl {
            Some(0) => {
                let conns: Vec<String> = h
                    .users
                    .get(user)
                    .map(|c| c.iter().cloned().collect())
                    .unwrap_or_default();
                for conn in conns {
                    h.groups
                        .entry(group.to_string())
                        .or_default()
                        .insert(conn.clone());
                    h.conn_groups
                        .entry(conn)
                        .or_default()
                        .insert(group.to_string());
                }
            }
            ttl => {
                let membership = match ttl {
                    Some(secs) => UserMembership {
                        expires: now + Duration::from_secs(secs.min(LONG_LIVED.as_secs())),
                        long_lived_seq: None,
                    },
                    None => UserMembership {
                        expires: now + LONG_LIVED,
                        long_lived_seq: Some(self.seq.fetch_add(1, Ordering::Relaxed)),
                    },
                };
                let groups = h.user_groups.entry(user.to_string()).or_default();
                groups.retain(|_, m| m.expires > now);
                groups.insert(group.to_string(), membership);
                let mut long_lived: Vec<(u64, String)> = groups
                    .iter()
                    .filter_map(|(g, m)| m.long_lived_seq.map(|s| (s, g.clone())))
                    .collect();
                let mut dropped = Vec::new();
                if long_lived.len() > MAX_LONG_LIVED_GROUPS_PER_USER {
                    long_lived.sort();
                    let excess = long_lived.len() - MAX_LONG_LIVED_GROUPS_PER_USER;
                    for (_, g) in long_lived.into_iter().take(excess) {
                        groups.remove(&g);
                        dropped.push(g);
                    }
                }
                for g in dropped {
                    unindex(&mut h.group_users, &g, user);
                }
                h.group_users
                    .entry(group.to_string())
                    .or_default()
                    .insert(user.to_string());
            }
        }
    }

    /// Removes a user (its membership and its connections' direct membership) from a group.
    pub fn remove_user_from_group(&self, hub: &str, group: &str, user: &str) {
        let mut hubs = lock(&self.hubs);
        let Some(h) = hubs.get_mut(hub) else {
            return;
        };
        h.remove_user_membership(user, group);
        let conns: Vec<String> = h
            .users
            .get(user)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default();
        for conn in conns {
            h.remove_conn_from_group(&conn, group);
        }
    }

    pub fn remove_user_from_all_groups(&self, hub: &str, user: &str) {
        let mut hubs = lock(&self.hubs);
        let Some(h) = hubs.get_mut(hub) else {
            return;
        };
        let groups: Vec<String> = h
            .user_groups
            .get(user)
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default();
        for g in groups {
            h.remove_user_membership(user, &g);
        }
        let conns: Vec<String> = h
            .users
            .get(user)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default();
        for conn in conns {
            h.remove_conn_from_all_groups(&conn);
        }
    }

    // ---- closing ----

    /// Asks connections to close. `which` picks them; returns how many.
    fn close_where(
        &self,
        hub: &str,
        reason: Option<String>,
        excluded: &HashSet<String>,
        which: impl FnOnce(&Hub) -> Vec<Arc<ConnHandle>>,
    ) -> usize {
        let targets = {
            let hubs = lock(&self.hubs);
            hubs.get(hub).map(which).unwrap_or_default()
        };
        let mut count = 0;
        for conn in targets {
            if excluded.contains(&conn.info.connection_id) {
                continue;
            }
            conn.request_close(CloseRequest {
                error: reason.clone(),
                graceful: true,
                overflow: false,
            });
            count += 1;
        }
        count
    }

    pub fn close_connection(&self, hub: &str, conn: &str, reason: Option<String>) -> bool {
        self.close_where(hub, reason, &HashSet::new(), |h| {
            h.connections.get(conn).cloned().into_iter().collect()
        }) > 0
    }

    pub fn close_all(&self, hub: &str, reason: Option<String>, excluded: &HashSet<String>) {
        self.close_where(hub, reason, excluded, |h| {
            h.connections.values().cloned().collect()
        });
    }

    pub fn close_group(
        &self,
        hub: &str,
        group: &str,
        reason: Option<String>,
        excluded: &HashSet<String>,
    ) {
        let now = Instant::now();
        self.close_where(hub, reason, excluded, |h| {
            h.group_members(group, now)
                .iter()
                .filter_map(|id| h.connections.get(id).cloned())
                .collect()
        });
    }

    pub fn close_user(
        &self,
        hub: &str,
        user: &str,
        reason: Option<String>,
        excluded: &HashSet<String>,
    ) {
        self.close_where(hub, reason, excluded, |h| {
            h.users
                .get(user)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| h.connections.get(id).cloned())
                        .collect()
                })
                .unwrap_or_default()
        });
    }

    // ---- inspection ----

    /// Records `messages` as written to `info`'s connection, if anyone can see a delivery: the
    /// record is on, or someone waits for an event. Asked once per batch, since copying ids
    /// and arguments for nobody would cost every delivery for nothing; `messages` is not
    /// iterated otherwise.
    pub fn record_deliveries<'a>(
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
        let _ = self.events.send(Event::Delivered(Arc::new(delivery)));
    }

    fn record_cutoff(&self, cutoff: Cutoff) {
        tracing::warn!(hub = %cutoff.hub, connection_id = %cutoff.connection_id,
            queued_bytes = cutoff.queued_bytes, reason = %cutoff.reason,
            "slow client closed: it fell behind its outbound budget");
        let mut cutoffs = lock(&self.cutoffs);
        if cutoffs.len() == MAX_CUTOFFS {
            cutoffs.pop_front();
        }
        cutoffs.push_back(cutoff);
    }

    pub fn cutoffs(&self) -> Vec<Cutoff> {
        lock(&self.cutoffs).iter().cloned().collect()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.record)
            .entries
            .iter()
            .map(|(d, _)| d.clone())
            .collect()
    }

    pub fn all_connections(&self) -> Vec<ConnectionInfo> {
        lock(&self.hubs)
            .values()
            .flat_map(|h| h.connections.values().map(|c| c.info.clone()))
            .collect()
    }

    pub fn hub_names(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.hubs).keys().cloned().collect();
        names.sort();
        names
    }

    pub fn snapshot(&self, hub: &str) -> HubSnapshot {
        let hubs = lock(&self.hubs);
        let Some(h) = hubs.get(hub) else {
            return HubSnapshot::default();
        };
        let now = Instant::now();
        let mut connections: Vec<ConnectionInfo> =
            h.connections.values().map(|c| c.info.clone()).collect();
        connections.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
        let sorted = |ids: HashSet<String>| {
            let mut v: Vec<String> = ids.into_iter().collect();
            v.sort();
            v
        };
        let users: BTreeMap<String, Vec<String>> = h
            .users
            .iter()
            .map(|(u, ids)| (u.clone(), sorted(ids.clone())))
            .collect();
        let group_names: HashSet<&String> = h.groups.keys().chain(h.group_users.keys()).collect();
        let groups = group_names
            .into_iter()
            .filter_map(|g| {
                let members = h.group_members(g, now);
                (!members.is_empty()).then(|| (g.clone(), sorted(members)))
            })
            .collect();
        HubSnapshot {
            connections,
            users,
            groups,
        }
    }
}

/// Removes `item` from the set under `key` in a one-to-many index, dropping the set once it
/// is empty (so that indexes do not keep a key per name ever seen). Whether it was there.
fn unindex(index: &mut HashMap<String, HashSet<String>>, key: &str, item: &str) -> bool {
    let Some(set) = index.get_mut(key) else {
        return false;
    };
    let removed = set.remove(item);
    if set.is_empty() {
        index.remove(key);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_is_encoded_once_per_protocol() {
        let message = Outgoing::new("t".into(), vec![json!({"big": "x".repeat(1000)})]);
        let a = message.bytes(HubProtocol::Json).unwrap();
        let b = message.bytes(HubProtocol::Json).unwrap();
        // Same buffer, not an equal copy: the second receiver reused the first encoding.
        assert_eq!(a.as_ptr(), b.as_ptr());
        let c = message.bytes(HubProtocol::MessagePack).unwrap();
        let d = message.bytes(HubProtocol::MessagePack).unwrap();
        assert_eq!(c.as_ptr(), d.as_ptr());
        assert_ne!(a, c);
    }

    #[test]
    fn the_record_counts_a_shared_message_once_and_stays_bounded() {
        let mut record = Record::default();
        let delivery = |id: &str| Delivery {
            hub: "h".into(),
            connection_id: id.into(),
            user_id: None,
            target: "t".into(),
            arguments: Arc::new(vec![]),
            at: SystemTime::now(),
        };
        let shared = Outgoing::new("t".into(), vec![json!("x".repeat(1000))]);
        for i in 0..100 {
            record.push(delivery(&i.to_string()), shared.clone(), 1000);
        }
        assert_eq!(record.entries.len(), 100);
        assert!(record.bytes < 2000, "{}", record.bytes);
        for i in 0..2000 {
            record.push(
                delivery(&i.to_string()),
                Outgoing::new("t".into(), vec![]),
                1000,
            );
        }
        assert_eq!(record.entries.len(), 1000);
        assert_eq!(shared.recorded.load(Ordering::Relaxed), 0);
    }
}
