//! The limits of `asrs emulator start` (timeouts, connection cap, outbound budgets, pending
//! negotiations) and the process tuning behind them: the open-file limit the connection cap
//! is derived from, and glibc's allocator returning freed message buffers.

use std::fmt;
use std::time::Duration;

use azure_signalr_rest::emulator::{self, EmulatorBuilder};
use clap::Args;

/// Descriptors kept back from the connection cap at the least: standard streams, the listening
/// sockets, the runtime's own, the settings file and upstream calls.
const MIN_DESCRIPTOR_RESERVE: u64 = 64;
/// The share of the open-file limit kept back when that is more (upstream calls grow with the
/// number of clients).
const DESCRIPTOR_RESERVE_DIVISOR: u64 = 16;
/// The cap where the open-file limit cannot be read (the emulator's own default).
const FALLBACK_CONNECTION_CAP: usize = emulator::DEFAULT_MAX_CONNECTIONS;

/// `asrs emulator start`'s limits; each maps to the [`EmulatorBuilder`] method of its name.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// Seconds a connection may take to send a request head; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(emulator::DEFAULT_HEADER_TIMEOUT), value_parser = seconds)]
    header_timeout: Seconds,
    /// Seconds a request body may take to arrive in full (else 408 and the connection closes).
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(emulator::DEFAULT_BODY_TIMEOUT), value_parser = seconds)]
    body_timeout: Seconds,
    /// Connections served at once, WebSockets and streams included; one more is answered 503
    /// with Retry-After [default: the open-file limit (raised to its hard limit) less 1/16 of
    /// it, at least 64, kept in reserve]
    #[arg(long, value_name = "CONNECTIONS", value_parser = positive)]
    max_connections: Option<usize>,
    /// Bytes of messages that may wait for one client before it is closed as too slow (1008).
    #[arg(long, value_name = "BYTES", default_value_t = emulator::DEFAULT_OUTBOUND_BUDGET, value_parser = positive)]
    outbound_budget: usize,
    /// Messages that may wait for one client before it is closed as too slow (1008).
    #[arg(long, value_name = "MESSAGES", default_value_t = emulator::DEFAULT_OUTBOUND_QUEUE, value_parser = positive)]
    outbound_queue: usize,
    /// Negotiations that may wait for their transport at once per user of a hub (else 429).
    #[arg(long, value_name = "COUNT", default_value_t = emulator::DEFAULT_NEGOTIATIONS_PER_USER, value_parser = positive)]
    negotiations_per_user: usize,
    /// Negotiations that may wait for their transport at once per hub (else 429).
    #[arg(long, value_name = "COUNT", default_value_t = emulator::DEFAULT_NEGOTIATIONS_PER_HUB, value_parser = positive)]
    negotiations_per_hub: usize,
}

impl LimitArgs {
    /// Sets every limit on `builder`. Raises the open-file limit first; returns the line that
    /// tells the user which connection cap is in force and why.
    pub(crate) fn apply(&self, builder: EmulatorBuilder) -> (EmulatorBuilder, String) {
        let (cap, note) = connection_cap(self.max_connections, raise_open_file_limit());
        let builder = builder
            .header_timeout(self.header_timeout.0)
            .body_timeout(self.body_timeout.0)
            .max_connections(cap)
            .outbound_budget(self.outbound_budget)
            .outbound_queue(self.outbound_queue)
            .negotiation_limits(self.negotiations_per_user, self.negotiations_per_hub);
        (builder, note)
    }
}

/// A count above zero.
fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A duration given and shown in seconds (the defaults are the emulator's own constants).
#[derive(Clone, Copy, Debug)]
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// Seconds above zero, fractions allowed (`0.5`).
fn seconds(text: &str) -> Result<Seconds, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => Ok(Seconds(d)),
        _ => Err("must be a number of seconds above 0".into()),
    }
}

/// The process's open-file limit: the soft limit before and after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenFiles {
    before: u64,
    now: u64,
}

/// The cap in force and the line announcing it. A given cap is kept, with a warning when the
/// open-file limit cannot hold it.
fn connection_cap(given: Option<usize>, limit: Option<OpenFiles>) -> (usize, String) {
    let allowed = limit.map(|l| {
        let reserve = (l.now / DESCRIPTOR_RESERVE_DIVISOR).max(MIN_DESCRIPTOR_RESERVE);
        (l.now.saturating_sub(reserve).max(1), reserve)
    });
    let describe = |l: OpenFiles, reserve: u64| {
        let raised = if l.now > l.before {
            format!(", raised from {}", l.before)
        } else {
            String::new()
        };
        format!(
            "open-file limit {}{raised}; {reserve} kept in reserve",
            l.now
        )
    };
    match (given, limit, allowed) {
        (Some(cap), Some(l), Some((most, reserve))) if cap as u64 > most => (
            cap,
            format!(
                "warning: --max-connections {cap} exceeds the {most} connections the open-file \
                 limit allows ({}); beyond them new connections fail with `Too many open files`",
                describe(l, reserve)
            ),
        ),
        (Some(cap), ..) => (cap, format!("Connection cap: {cap} (--max-connections)")),
        (None, Some(l), Some((most, reserve))) => {
            let cap = usize::try_from(most).unwrap_or(usize::MAX);
            (
                cap,
                format!("Connection cap: {cap} ({})", describe(l, reserve)),
            )
        }
        _ => (
            FALLBACK_CONNECTION_CAP,
            format!("Connection cap: {FALLBACK_CONNECTION_CAP} (the open-file limit is unknown)"),
        ),
    }
}

/// Raises the soft open-file limit to the hard limit (a connection is a descriptor) and
/// returns it; `None` where it cannot be read.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // libc's rlimit calls; see the SAFETY notes.
fn raise_open_file_limit() -> Option<OpenFiles> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given. A refusal (an unlimited hard
        // limit is above the kernel's nr_open) leaves the soft limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(OpenFiles {
        before,
        now: limit.rlim_cur,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn raise_open_file_limit() -> Option<OpenFiles> {
    None
}

/// glibc raises its mmap threshold each time a large block is freed, after which message
/// buffers come from the heap and stay resident once freed: a burst of 512 KiB messages to
/// ten slow clients left 238 MB resident after they were cut off and gone (23 MB with the
/// threshold fixed). Fixing it keeps big buffers in their own mappings, returned when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // glibc's mallopt; see the SAFETY note.
pub(crate) fn return_freed_memory() {
    // SAFETY: mallopt only tunes glibc's allocator and is thread-safe there (it takes the arena
    // lock); a refusal (0) just leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn return_freed_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_of_descriptors() {
        let small = OpenFiles {
            before: 1024,
            now: 1024,
        };
        assert_eq!(connection_cap(None, Some(small)).0, 1024 - 64);
        let raised = OpenFiles {
            before: 1024,
            now: 1_048_576,
        };
        let (cap, note) = connection_cap(None, Some(raised));
        assert_eq!(cap, 1_048_576 - 65_536);
        assert!(note.contains("raised from 1024"), "{note}");
        assert_eq!(connection_cap(None, None).0, FALLBACK_CONNECTION_CAP);
        // A given cap stays, with a warning when the descriptors cannot hold it.
        let (cap, note) = connection_cap(Some(5000), Some(small));
        assert_eq!(cap, 5000);
        assert!(note.starts_with("warning:"), "{note}");
        assert_eq!(connection_cap(Some(10), Some(small)).0, 10);
    }

    #[test]
    fn limits_must_be_positive() {
        assert!(positive("0").is_err());
        assert_eq!(positive("7"), Ok(7));
        assert!(seconds("0").is_err());
        assert!(seconds("-1").is_err());
        assert!(seconds("soon").is_err());
        assert_eq!(seconds("0.5").map(|s| s.0), Ok(Duration::from_millis(500)));
    }
}
