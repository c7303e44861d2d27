//! What the inspection API sees: the bounded record of deliveries, the slow-consumer cut-offs,
//! and the events that [`EmulatorHandle`](crate::emulator::EmulatorHandle)'s waits listen to.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fanout::Outgoing;
use crate::emulator::inspect::{ConnectionInfo, Cutoff, Delivery};

/// What the inspection API listens to.
#[derive(Debug, Clone)]
pub(crate) enum InspectionEvent {
    Delivered(Arc<Delivery>),
    Connected(ConnectionInfo),
    Disconnected(ConnectionInfo),
}

/// The bytes the delivery record may hold in distinct messages; oldest entries go first.
const RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Recent deliveries, bounded by count and by the size of the distinct messages they hold
/// (a broadcast to many connections counts once).
#[derive(Default)]
pub(super) struct Record {
    entries: VecDeque<(Delivery, Arc<Outgoing>)>,
    bytes: usize,
}

impl Record {
    /// Records a delivery, dropping the oldest entries beyond `max_entries` or the byte bound.
    pub(super) fn push(&mut self, delivery: Delivery, message: Arc<Outgoing>, max_entries: usize) {
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

    /// The recorded deliveries, oldest first.
    pub(super) fn deliveries(&self) -> Vec<Delivery> {
        self.entries.iter().map(|(d, _)| d.clone()).collect()
    }
}

/// Slow-consumer cut-offs kept for inspection.
const MAX_CUTOFFS: usize = 1000;

/// Clients closed for falling behind, newest last (at most `MAX_CUTOFFS`).
#[derive(Debug, Default)]
pub(super) struct Cutoffs(VecDeque<Cutoff>);

impl Cutoffs {
    pub(super) fn push(&mut self, cutoff: Cutoff) {
        if self.0.len() == MAX_CUTOFFS {
            self.0.pop_front();
        }
        self.0.push_back(cutoff);
    }

    pub(super) fn list(&self) -> Vec<Cutoff> {
        self.0.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::SystemTime;

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
