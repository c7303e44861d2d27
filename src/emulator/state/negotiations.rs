//! Negotiations waiting for their transport, with limits per user, per hub and overall.
//!
//! A negotiation costs a little memory until its transport opens or it expires, so their number
//! is bounded; the bounds are per user of a hub and per hub (and a large overall backstop), so
//! one user or one hub negotiating in a loop is refused on its own and cannot lock out another.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Negotiations left unused are forgotten after this long.
pub(crate) const NEGOTIATION_LIFETIME: Duration = Duration::from_secs(120);

/// The most negotiations pending at once, whatever their hub: a memory backstop above the
/// per-hub limit, so it takes many hubs at their limit to reach it.
const MAX_PENDING_OVERALL: usize = 100_000;

/// A connection that negotiated but has not opened its transport yet.
#[derive(Debug, Clone)]
pub(crate) struct PendingConnection {
    /// The connection id REST calls will name.
    pub connection_id: String,
    /// The hub (lower-cased).
    pub hub: String,
    /// The user its token named.
    pub user_id: Option<String>,
    /// When it negotiated (it expires after [`NEGOTIATION_LIFETIME`]).
    pub created: Instant,
}

/// Why a negotiation could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeRefused {
    /// No such (live) negotiation for this hub.
    Missing,
    /// It belongs to another user.
    OtherUser,
}

/// The limits on pending negotiations (see
/// [`EmulatorBuilder::negotiation_limits`](crate::emulator::EmulatorBuilder::negotiation_limits)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NegotiationLimits {
    /// Per user of a hub (all anonymous clients of a hub count as one user).
    pub per_user: usize,
    /// Per hub.
    pub per_hub: usize,
}

/// Why a negotiation was refused, and when a place is expected to free up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub reason: String,
    pub retry_after: Duration,
}

type UserKey = (String, Option<String>);

#[derive(Debug, Default)]
pub(super) struct Pending {
    by_token: HashMap<String, PendingConnection>,
    per_hub: HashMap<String, usize>,
    per_user: HashMap<UserKey, usize>,
    /// Tokens in creation order, for expiry; entries already taken are skipped (and compacted
    /// away when they outnumber the live ones).
    order: VecDeque<(Instant, String)>,
}

impl Pending {
    /// Records a negotiation under `token`, or says which limit it would break.
    pub(super) fn add(
        &mut self,
        token: String,
        negotiated: PendingConnection,
        limits: NegotiationLimits,
    ) -> Result<(), Refused> {
        let now = negotiated.created;
        self.expire(now);
        let hub = negotiated.hub.clone();
        let user_key = (hub.clone(), negotiated.user_id.clone());
        let refused = if self.per_user.get(&user_key).copied().unwrap_or(0) >= limits.per_user {
            Some((
                match &negotiated.user_id {
                    Some(_) => format!(
                        "too many pending negotiations for this user of hub '{hub}' (limit {})",
                        limits.per_user
                    ),
                    None => format!(
                        "too many pending anonymous negotiations on hub '{hub}' (limit {})",
                        limits.per_user
                    ),
                },
                Some(&user_key),
            ))
        } else if self.per_hub.get(&hub).copied().unwrap_or(0) >= limits.per_hub {
            Some((
                format!(
                    "too many pending negotiations on hub '{hub}' (limit {})",
                    limits.per_hub
                ),
                None,
            ))
        } else if self.by_token.len() >= MAX_PENDING_OVERALL {
            Some((
                format!("too many pending negotiations (limit {MAX_PENDING_OVERALL})"),
                None,
            ))
        } else {
            None
        };
        if let Some((reason, user)) = refused {
            let retry_after = self.until_first_expiry(now, |n| match user {
                Some(key) => n.hub == key.0 && n.user_id == key.1,
                None => n.hub == hub,
            });
            return Err(Refused {
                reason,
                retry_after,
            });
        }
        *self.per_hub.entry(hub).or_default() += 1;
        *self.per_user.entry(user_key).or_default() += 1;
        self.order.push_back((now, token.clone()));
        self.by_token.insert(token, negotiated);
        Ok(())
    }

    /// Takes the negotiation of `token` for a request to `hub` by `user`; one made by another
    /// user stays where it is, so its owner can still connect.
    pub(super) fn take_for(
        &mut self,
        token: &str,
        hub: &str,
        user: Option<&str>,
    ) -> Result<PendingConnection, TakeRefused> {
        match self.by_token.get(token) {
            Some(n) if n.hub != hub => Err(TakeRefused::Missing),
            Some(n) if n.user_id.as_deref() != user => Err(TakeRefused::OtherUser),
            Some(_) => self.take(token).ok_or(TakeRefused::Missing),
            None => Err(TakeRefused::Missing),
        }
    }

    /// Takes the negotiation of `token` if it is there and not expired.
    fn take(&mut self, token: &str) -> Option<PendingConnection> {
        let negotiated = self.remove(token)?;
        (negotiated.created.elapsed() < NEGOTIATION_LIFETIME).then_some(negotiated)
    }

    fn remove(&mut self, token: &str) -> Option<PendingConnection> {
        let negotiated = self.by_token.remove(token)?;
        decrement(&mut self.per_hub, negotiated.hub.clone());
        decrement(
            &mut self.per_user,
            (negotiated.hub.clone(), negotiated.user_id.clone()),
        );
        if self.order.len() > 2 * self.by_token.len() + 1024 {
            let live = &self.by_token;
            self.order.retain(|(_, t)| live.contains_key(t));
        }
        Some(negotiated)
    }

    fn expire(&mut self, now: Instant) {
        while let Some((created, _)) = self.order.front() {
            if now.saturating_duration_since(*created) < NEGOTIATION_LIFETIME {
                break;
            }
            if let Some((_, token)) = self.order.pop_front() {
                self.remove(&token);
            }
        }
    }

    /// How long until the oldest pending negotiation matching `scope` expires (at least 1 s).
    fn until_first_expiry(
        &self,
        now: Instant,
        scope: impl Fn(&PendingConnection) -> bool,
    ) -> Duration {
        let oldest = self
            .order
            .iter()
            .find_map(|(_, t)| self.by_token.get(t).filter(|n| scope(n)));
        let left = oldest.map_or(NEGOTIATION_LIFETIME, |n| {
            NEGOTIATION_LIFETIME.saturating_sub(now.saturating_duration_since(n.created))
        });
        left.max(Duration::from_secs(1))
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: K) {
    if let std::collections::hash_map::Entry::Occupied(mut e) = counts.entry(key) {
        *e.get_mut() -= 1;
        if *e.get() == 0 {
            e.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiation(hub: &str, user: Option<&str>, created: Instant) -> PendingConnection {
        PendingConnection {
            connection_id: String::new(),
            hub: hub.into(),
            user_id: user.map(str::to_string),
            created,
        }
    }

    const LIMITS: NegotiationLimits = NegotiationLimits {
        per_user: 2,
        per_hub: 3,
    };

    #[test]
    fn limits_per_user_and_hub_and_release() {
        let mut p = Pending::default();
        let now = Instant::now();
        let add = |p: &mut Pending, t: &str, hub, user| {
            p.add(t.into(), negotiation(hub, user, now), LIMITS)
        };
        assert!(add(&mut p, "a1", "chat", Some("ann")).is_ok());
        assert!(add(&mut p, "a2", "chat", Some("ann")).is_ok());
        let refused = add(&mut p, "a3", "chat", Some("ann")).unwrap_err();
        assert!(refused.reason.contains("this user"), "{refused:?}");
        assert!(refused.retry_after > Duration::from_secs(100));
        // Another user of the hub, until the hub is full; another hub is unaffected.
        assert!(add(&mut p, "b1", "chat", Some("bob")).is_ok());
        let refused = add(&mut p, "c1", "chat", Some("cat")).unwrap_err();
        assert!(refused.reason.contains("on hub 'chat'"), "{refused:?}");
        assert!(add(&mut p, "x1", "other", Some("ann")).is_ok());
        // Using a negotiation gives its place back.
        assert!(p.take("a1").is_some());
        assert!(p.take("a1").is_none());
        assert!(add(&mut p, "a3", "chat", Some("ann")).is_ok());
    }

    #[test]
    fn expired_negotiations_free_their_places() {
        let mut p = Pending::default();
        let old = Instant::now();
        for t in ["a1", "a2"] {
            p.add(t.into(), negotiation("chat", None, old), LIMITS)
                .unwrap();
        }
        let later = old + NEGOTIATION_LIFETIME;
        assert!(p
            .add("a3".into(), negotiation("chat", None, later), LIMITS)
            .is_ok());
        assert_eq!(p.by_token.len(), 1);
        assert_eq!(p.per_hub["chat"], 1);
    }
}
