//! Hubs and their memberships: one index per hub whose maps are kept consistent by construction.
//!
//! A [`Hub`]'s maps are private and change only through its methods, each of which updates
//! every map it touches (a connection's groups and a group's connections together, a user's
//! groups and a group's users together). Recipients are found through these indexes, never by
//! scanning every connection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fanout::ConnHandle;
use crate::emulator::inspect::{ConnectionInfo, HubSnapshot};

/// Groups kept per user without a ttl; older ones are dropped first.
const MAX_LONG_LIVED_GROUPS_PER_USER: usize = 100;
/// "Long-lived" user-group membership still ends after a year.
const LONG_LIVED: Duration = Duration::from_secs(365 * 24 * 3600);

/// A user's membership of one group.
#[derive(Debug)]
struct UserMembership {
    expires: Instant,
    /// Set for memberships without ttl, ordering them for the per-user cap.
    long_lived_seq: Option<u64>,
}

/// Every hub with a connection or a membership, by lower-cased name.
#[derive(Debug, Default)]
pub(super) struct Hubs(HashMap<String, Hub>);

impl Hubs {
    pub(super) fn get(&self, hub: &str) -> Option<&Hub> {
        self.0.get(hub)
    }

    pub(super) fn get_mut(&mut self, hub: &str) -> Option<&mut Hub> {
        self.0.get_mut(hub)
    }

    /// The hub, created empty if it is not there.
    pub(super) fn entry(&mut self, hub: &str) -> &mut Hub {
        self.0.entry(hub.to_string()).or_default()
    }

    /// Forgets the hub once it holds nothing (so hubs do not pile up by name).
    pub(super) fn drop_if_empty(&mut self, hub: &str) {
        if self.0.get(hub).is_some_and(Hub::is_empty) {
            self.0.remove(hub);
        }
    }

    pub(super) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.keys().cloned().collect();
        names.sort();
        names
    }

    /// Every live connection of every hub.
    pub(super) fn connections(&self) -> impl Iterator<Item = &Arc<ConnHandle>> {
        self.0.values().flat_map(|h| h.connections.values())
    }

    pub(super) fn no_connections(&self) -> bool {
        self.0.values().all(|h| h.connections.is_empty())
    }
}

/// One hub: its connections and who belongs to which group.
#[derive(Debug, Default)]
pub(super) struct Hub {
    connections: HashMap<String, Arc<ConnHandle>>,
    /// user -> its connection ids
    users: HashMap<String, HashSet<String>>,
    /// group -> connection ids added directly
    groups: HashMap<String, HashSet<String>>,
    /// connection -> groups it was added to directly (the reverse of `groups`)
    conn_groups: HashMap<String, HashSet<String>>,
    /// user -> group -> membership (outlives the user's connections)
    user_groups: HashMap<String, HashMap<String, UserMembership>>,
    /// group -> users with a membership (the reverse of `user_groups`)
    group_users: HashMap<String, HashSet<String>>,
    /// Orders long-lived user memberships, oldest first.
    next_seq: u64,
}

impl Hub {
    // ---- connections ----

    /// Adds a connection; one with the same id (never the case with random ids) is replaced,
    /// leaving its user and groups.
    pub(super) fn add_connection(&mut self, conn: Arc<ConnHandle>) {
        let id = conn.info.connection_id.clone();
        if let Some(old) = self.connections.get(&id).map(|c| c.info.clone()) {
            self.remove_connection(&old);
        }
        if let Some(user) = &conn.info.user_id {
            self.users
                .entry(user.clone())
                .or_default()
                .insert(id.clone());
        }
        self.connections.insert(id, conn);
    }

    /// Removes a connection with its user entry and its direct group memberships.
    pub(super) fn remove_connection(&mut self, info: &ConnectionInfo) {
        self.connections.remove(&info.connection_id);
        if let Some(user) = &info.user_id {
            unindex(&mut self.users, user, &info.connection_id);
        }
        self.leave_all_groups(&info.connection_id);
    }

    fn is_empty(&self) -> bool {
        self.connections.is_empty() && self.user_groups.is_empty() && self.groups.is_empty()
    }

    pub(super) fn connection(&self, id: &str) -> Option<&Arc<ConnHandle>> {
        self.connections.get(id)
    }

    /// Every connection but the excluded ones.
    pub(super) fn all_except(&self, excluded: &HashSet<String>) -> Vec<Arc<ConnHandle>> {
        self.connections
            .iter()
            .filter(|(id, _)| !excluded.contains(*id))
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The connections of these users, each once.
    pub(super) fn of_users(&self, users: &[String]) -> Vec<Arc<ConnHandle>> {
        let ids: HashSet<&String> = users
            .iter()
            .filter_map(|u| self.users.get(u))
            .flatten()
            .collect();
        ids.into_iter()
            .filter_map(|id| self.connections.get(id).cloned())
            .collect()
    }

    /// The connections in any of these groups (directly or through their user), each once,
    /// but the excluded ones.
    pub(super) fn in_groups(
        &self,
        groups: &[String],
        excluded: &HashSet<String>,
        now: Instant,
    ) -> Vec<Arc<ConnHandle>> {
        let mut ids = HashSet::new();
        for g in groups {
            ids.extend(self.group_members(g, now));
        }
        ids.into_iter()
            .filter(|id| !excluded.contains(id))
            .filter_map(|id| self.connections.get(&id).cloned())
            .collect()
    }

    // ---- queries ----

    pub(super) fn user_exists(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|c| !c.is_empty())
    }

    pub(super) fn group_exists(&self, group: &str, now: Instant) -> bool {
        !self.group_members(group, now).is_empty()
    }

    /// Whether the user is in the group, by a live membership of its own or through one of
    /// its connections.
    pub(super) fn user_in_group(&self, user: &str, group: &str, now: Instant) -> bool {
        self.user_membership_live(user, group, now)
            || self.users.get(user).is_some_and(|conns| {
                self.groups
                    .get(group)
                    .is_some_and(|members| conns.iter().any(|c| members.contains(c)))
            })
    }

    fn user_membership_live(&self, user: &str, group: &str, now: Instant) -> bool {
        self.user_groups
            .get(user)
            .and_then(|g| g.get(group))
            .is_some_and(|m| m.expires > now)
    }

    /// Connection ids in `group`, directly or through their user.
    fn group_members(&self, group: &str, now: Instant) -> HashSet<String> {
        let mut ids: HashSet<String> = self.groups.get(group).cloned().unwrap_or_default();
        for user in self.group_users.get(group).into_iter().flatten() {
            if self.user_membership_live(user, group, now)
                && let Some(conns) = self.users.get(user)
            {
                ids.extend(conns.iter().cloned());
            }
        }
        ids
    }

    // ---- connection membership ----

    /// Adds a connection to a group; false when the connection does not exist.
    pub(super) fn add_to_group(&mut self, group: &str, conn: &str) -> bool {
        if !self.connections.contains_key(conn) {
            return false;
        }
        self.join(conn, group);
        true
    }

    /// Removes a connection from a group; false when the connection does not exist.
    pub(super) fn remove_from_group(&mut self, group: &str, conn: &str) -> bool {
        if !self.connections.contains_key(conn) {
            return false;
        }
        self.leave(conn, group);
        true
    }

    /// Removes a connection from every group; false when the connection does not exist.
    pub(super) fn remove_from_all_groups(&mut self, conn: &str) -> bool {
        if !self.connections.contains_key(conn) {
            return false;
        }
        self.leave_all_groups(conn);
        true
    }

    fn join(&mut self, conn: &str, group: &str) {
        self.groups
            .entry(group.to_string())
            .or_default()
            .insert(conn.to_string());
        self.conn_groups
            .entry(conn.to_string())
            .or_default()
            .insert(group.to_string());
    }

    fn leave(&mut self, conn: &str, group: &str) {
        unindex(&mut self.conn_groups, conn, group);
        unindex(&mut self.groups, group, conn);
    }

    fn leave_all_groups(&mut self, conn: &str) {
        for group in self.conn_groups.remove(conn).unwrap_or_default() {
            unindex(&mut self.groups, &group, conn);
        }
    }

    // ---- user membership ----

    /// Adds a user to a group. `ttl` of zero adds only the user's current connections;
    /// `None` is long-lived (the latest 100 per user kept).
    pub(super) fn add_user_to_group(
        &mut self,
        group: &str,
        user: &str,
        ttl: Option<u64>,
        now: Instant,
    ) {
        if ttl == Some(0) {
            for conn in self.user_connection_ids(user) {
                self.join(&conn, group);
            }
            return;
        }
        let membership = match ttl {
            Some(secs) => UserMembership {
                expires: now + Duration::from_secs(secs.min(LONG_LIVED.as_secs())),
                long_lived_seq: None,
            },
            None => {
                self.next_seq += 1;
                UserMembership {
                    expires: now + LONG_LIVED,
                    long_lived_seq: Some(self.next_seq),
                }
            }
        };
        let groups = self.user_groups.entry(user.to_string()).or_default();
        let mut dropped = Vec::new();
        groups.retain(|g, m| {
            let live = m.expires > now;
            if !live {
                dropped.push(g.clone());
            }
            live
        });
        groups.insert(group.to_string(), membership);
        let mut long_lived: Vec<(u64, String)> = groups
            .iter()
            .filter_map(|(g, m)| m.long_lived_seq.map(|s| (s, g.clone())))
            .collect();
        if long_lived.len() > MAX_LONG_LIVED_GROUPS_PER_USER {
            long_lived.sort();
            let excess = long_lived.len() - MAX_LONG_LIVED_GROUPS_PER_USER;
            for (_, g) in long_lived.into_iter().take(excess) {
                groups.remove(&g);
                dropped.push(g);
            }
        }
        // Expired and capped memberships leave the reverse index too.
        for g in dropped {
            unindex(&mut self.group_users, &g, user);
        }
        self.group_users
            .entry(group.to_string())
            .or_default()
            .insert(user.to_string());
    }

    /// Removes a user (its membership and its connections' direct membership) from a group.
    pub(super) fn remove_user_from_group(&mut self, group: &str, user: &str) {
        self.drop_user_membership(user, group);
        for conn in self.user_connection_ids(user) {
            self.leave(&conn, group);
        }
    }

    /// Removes a user and its connections from every group.
    pub(super) fn remove_user_from_all_groups(&mut self, user: &str) {
        let groups: Vec<String> = self
            .user_groups
            .get(user)
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default();
        for g in groups {
            self.drop_user_membership(user, &g);
        }
        for conn in self.user_connection_ids(user) {
            self.leave_all_groups(&conn);
        }
    }

    fn drop_user_membership(&mut self, user: &str, group: &str) {
        if let Some(groups) = self.user_groups.get_mut(user) {
            groups.remove(group);
            if groups.is_empty() {
                self.user_groups.remove(user);
            }
        }
        unindex(&mut self.group_users, group, user);
    }

    fn user_connection_ids(&self, user: &str) -> Vec<String> {
        self.users
            .get(user)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    // ---- inspection ----

    pub(super) fn snapshot(&self, now: Instant) -> HubSnapshot {
        let mut connections: Vec<ConnectionInfo> =
            self.connections.values().map(|c| c.info.clone()).collect();
        connections.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
        let sorted = |ids: HashSet<String>| {
            let mut v: Vec<String> = ids.into_iter().collect();
            v.sort();
            v
        };
        let users: BTreeMap<String, Vec<String>> = self
            .users
            .iter()
            .map(|(u, ids)| (u.clone(), sorted(ids.clone())))
            .collect();
        let group_names: HashSet<&String> =
            self.groups.keys().chain(self.group_users.keys()).collect();
        let groups = group_names
            .into_iter()
            .filter_map(|g| {
                let members = self.group_members(g, now);
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
    use crate::emulator::state::fanout::CloseRequest;
    use crate::protocol::{HubProtocol, TransportType};
    use rand::{Rng, SeedableRng};
    use tokio::sync::{mpsc, watch};

    fn connection(id: &str, user: Option<&str>) -> Arc<ConnHandle> {
        let info = ConnectionInfo {
            connection_id: id.into(),
            hub: "h".into(),
            user_id: user.map(str::to_string),
            transport: TransportType::WebSockets,
            protocol: HubProtocol::Json,
        };
        let (queue, _) = mpsc::channel(1);
        let (close, _) = watch::channel(None::<CloseRequest>);
        Arc::new(ConnHandle::new(info, queue, close, 1024))
    }

    /// Each reverse index is exactly its forward index turned around, and direct memberships
    /// and user entries name live connections only.
    fn assert_consistent(hub: &Hub) {
        let pairs = |m: &HashMap<String, HashSet<String>>| -> HashSet<(String, String)> {
            m.iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                .collect()
        };
        let flip = |p: HashSet<(String, String)>| p.into_iter().map(|(a, b)| (b, a)).collect();
        assert_eq!(pairs(&hub.groups), flip(pairs(&hub.conn_groups)));
        let user_groups: HashSet<(String, String)> = hub
            .user_groups
            .iter()
            .flat_map(|(u, gs)| gs.keys().map(move |g| (u.clone(), g.clone())))
            .collect();
        assert_eq!(pairs(&hub.group_users), flip(user_groups));
        for (set, what) in [(&hub.groups, "groups"), (&hub.users, "users")] {
            for ids in set.values() {
                assert!(!ids.is_empty(), "an empty set is kept in {what}");
                for id in ids {
                    assert!(hub.connections.contains_key(id), "{what} names gone {id}");
                }
            }
        }
        assert!(hub.user_groups.values().all(|g| !g.is_empty()));
    }

    #[test]
    fn every_change_keeps_the_maps_consistent() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let mut hub = Hub::default();
        let start = Instant::now();
        let pick = |rng: &mut rand::rngs::StdRng, prefix: &str, n: u32| {
            format!("{prefix}{}", rng.random_range(0..n))
        };
        for step in 0..5_000u64 {
            // Time moves on, so that ttl memberships expire along the way.
            let now = start + Duration::from_secs(step);
            let (conn, user, group) = (
                pick(&mut rng, "c", 12),
                pick(&mut rng, "u", 5),
                pick(&mut rng, "g", 6),
            );
            match rng.random_range(0..9) {
                0 => hub.add_connection(connection(&conn, Some(&user))),
                1 => {
                    let info = hub.connection(&conn).map(|c| c.info.clone());
                    if let Some(info) = info {
                        hub.remove_connection(&info);
                    }
                }
                2 => {
                    hub.add_to_group(&group, &conn);
                }
                3 => {
                    hub.remove_from_group(&group, &conn);
                }
                4 => {
                    hub.remove_from_all_groups(&conn);
                }
                5 => {
                    let ttl = [None, Some(0), Some(3), Some(60)][rng.random_range(0..4)];
                    hub.add_user_to_group(&group, &user, ttl, now);
                }
                6 => hub.remove_user_from_group(&group, &user),
                7 => hub.remove_user_from_all_groups(&user),
                _ => hub.add_connection(connection(&conn, None)),
            }
            assert_consistent(&hub);
        }
    }
}
