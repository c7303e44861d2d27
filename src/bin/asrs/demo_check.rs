//! The checking half of `asrs demo`: the listeners it runs, what each should see in a step,
//! and the comparison with what each received, printed and counted.
//!
//! After each step a `Checkpoint` message goes to every open connection: what a listener
//! received before its checkpoint is exactly what that step delivered to it.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use azure_signalr_rest::listener::{Event, Listener};
use azure_signalr_rest::{HubClient, Message};
use serde_json::Value;
use tokio::time::{timeout, Instant};

use crate::cmd_send::{send_message, Recipient, SEND_MESSAGE_TARGET};

pub(crate) const SERVER_NAME: &str = "demo";
const CHECKPOINT: &str = "Checkpoint";
/// Between two asks of [`Demo::exists_eventually`].
const RECHECK_INTERVAL: Duration = Duration::from_millis(50);

pub(crate) struct Member {
    pub(crate) name: &'static str,
    pub(crate) listener: Listener,
    pub(crate) connection_id: String,
    pub(crate) open: bool,
}

/// What a listener should see in a step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    /// A `SendMessage` with this text.
    Text(String),
    /// The end of the connection, its error containing this text.
    Closed(&'static str),
}

/// What a listener saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Text(String),
    Other {
        target: String,
        arguments: Vec<Value>,
    },
    Closed(Option<String>),
    Reconnecting(String),
}

impl Seen {
    fn matches(&self, expected: &Expect) -> bool {
        match (self, expected) {
            (Seen::Text(seen), Expect::Text(want)) => seen == want,
            (Seen::Closed(error), Expect::Closed(want)) => {
                error.as_deref().unwrap_or_default().contains(want)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Text(text) => write!(f, "\"{text}\""),
            Expect::Closed("") => f.write_str("closed"),
            Expect::Closed(reason) => write!(f, "closed ({reason})"),
        }
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Text(text) => write!(f, "\"{text}\""),
            Seen::Other { target, arguments } => {
                write!(f, "{target}{}", Value::Array(arguments.clone()))
            }
            Seen::Closed(None) => f.write_str("closed"),
            Seen::Closed(Some(error)) => write!(f, "closed ({error})"),
            Seen::Reconnecting(error) => write!(f, "reconnecting ({error})"),
        }
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "(nothing)".to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) struct Demo {
    hub: HubClient,
    members: Vec<Member>,
    wait: Duration,
    step: u32,
    checks: u32,
    failures: Vec<String>,
}

impl Demo {
    pub(crate) fn new(hub: HubClient, members: Vec<Member>, wait: Duration) -> Demo {
        Demo {
            hub,
            members,
            wait,
            step: 0,
            checks: 0,
            failures: Vec::new(),
        }
    }

    /// Prints the summary; exit status 0 only when every check passed.
    pub(crate) fn report(self) -> ExitCode {
        println!();
        if self.failures.is_empty() {
            println!("demo passed: all {} checks", self.checks);
            ExitCode::SUCCESS
        } else {
            println!(
                "demo FAILED: {} of {} checks",
                self.failures.len(),
                self.checks
            );
            for failure in &self.failures {
                println!("  {failure}");
            }
            ExitCode::from(1)
        }
    }

    fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .expect("a demo member")
    }

    pub(crate) fn connection(&self, name: &str) -> String {
        self.member(name).connection_id.clone()
    }

    pub(crate) fn next_step(&mut self, title: &str) -> String {
        self.step += 1;
        println!();
        println!("step {}: {title}", self.step);
        format!("#{} {title}", self.step)
    }

    /// Records a check made outside this file; `what` is reported when it failed.
    pub(crate) fn check(&mut self, ok: bool, what: String) {
        self.record(ok, what);
    }

    fn record(&mut self, ok: bool, what: String) {
        self.checks += 1;
        if !ok {
            self.failures.push(format!("step {}: {what}", self.step));
        }
    }

    /// Prints and records the outcome of a REST call that must succeed.
    pub(crate) fn call(&mut self, what: &str, result: Result<(), azure_signalr_rest::Error>) {
        match result {
            Ok(()) => println!("  {what}: accepted"),
            Err(e) => {
                println!("  {what}: error: {e}   FAILED");
                self.record(false, format!("{what}: {e}"));
                return;
            }
        }
        self.record(true, String::new());
    }

    /// Prints and records an existence check.
    pub(crate) fn exists(
        &mut self,
        what: &str,
        result: Result<bool, azure_signalr_rest::Error>,
        want: bool,
    ) {
        let (seen, ok) = match result {
            Ok(seen) => (seen.to_string(), seen == want),
            Err(e) => (format!("error: {e}"), false),
        };
        println!(
            "  exists {what}: expected {want}, got {seen}   {}",
            if ok { "ok" } else { "FAILED" }
        );
        self.record(ok, format!("exists {what}: expected {want}, got {seen}"));
    }

    /// An existence check of state the service updates asynchronously (a closed connection
    /// leaves shortly after its Close message): asks again until it answers `want` or the wait
    /// is over.
    pub(crate) async fn exists_eventually<F, Fut>(&mut self, what: &str, want: bool, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, azure_signalr_rest::Error>>,
    {
        let deadline = Instant::now() + self.wait;
        let mut result = check().await;
        while !matches!(result, Ok(seen) if seen == want) && Instant::now() < deadline {
            tokio::time::sleep(RECHECK_INTERVAL).await;
            result = check().await;
        }
        self.exists(what, result, want);
    }

    /// Sends `SendMessage(demo, text)` to `to` (through `hub`, whose API version may differ
    /// from the demo's), then checks that exactly `receivers` got it.
    pub(crate) async fn send(
        &mut self,
        hub: &HubClient,
        to: Recipient,
        suffix: &str,
        receivers: &[&str],
    ) {
        let title = format!("{}{suffix}", to.describe());
        let text = self.next_step(&title);
        let result = to.send(hub, &send_message(SERVER_NAME, &text)).await;
        self.call(&title, result);
        let expected = receivers
            .iter()
            .map(|r| (*r, vec![Expect::Text(text.clone())]))
            .collect::<Vec<_>>();
        self.deliveries(&expected).await;
    }

    /// Sends a checkpoint to every open connection and compares what each received before it
    /// with `expected` (nothing, for members not named). A member expected to close gets no
    /// checkpoint (the service may deliver one before closing): it is read until it closes.
    pub(crate) async fn deliveries(&mut self, expected: &[(&str, Vec<Expect>)]) {
        let step = self.step;
        let closing = |name: &str| {
            expected
                .iter()
                .any(|(n, e)| *n == name && matches!(e.last(), Some(Expect::Closed(_))))
        };
        let checkpoint = Message::from_values(CHECKPOINT, vec![Value::from(step)]);
        for member in self.members.iter().filter(|m| m.open && !closing(m.name)) {
            if let Err(e) = self
                .hub
                .send_to_connection(&member.connection_id, &checkpoint)
                .await
            {
                println!("  checkpoint to {}: error: {e}", member.name);
            }
        }
        let wait = self.wait;
        let mut outcomes = Vec::new();
        for member in self.members.iter_mut().filter(|m| m.open) {
            let want = expected
                .iter()
                .find(|(name, _)| *name == member.name)
                .map(|(_, e)| e.clone())
                .unwrap_or_default();
            let until = if closing(member.name) {
                Until::Closed
            } else {
                Until::Checkpoint(step)
            };
            let (seen, ended) = receive(&mut member.listener, until, wait).await;
            if ended {
                member.open = false;
            }
            let ok = seen.len() == want.len() && seen.iter().zip(&want).all(|(s, w)| s.matches(w));
            outcomes.push((member.name, want, seen, ok));
        }
        for (name, want, seen, ok) in outcomes {
            let (want, seen) = (list(&want), list(&seen));
            println!(
                "  {name:<6} expected: {want:<40} received: {seen:<40} {}",
                if ok { "ok" } else { "FAILED" }
            );
            self.record(ok, format!("{name} expected {want}, received {seen}"));
        }
    }
}

/// Where [`receive`] stops.
#[derive(Clone, Copy)]
enum Until {
    Checkpoint(u32),
    Closed,
}

/// Reads events until the checkpoint of the step arrives or the connection ends (whichever
/// `until` names), or `wait` passes without it. Returns what came before, and whether the
/// connection ended.
async fn receive(listener: &mut Listener, until: Until, wait: Duration) -> (Vec<Seen>, bool) {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let event = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            listener.next(),
        )
        .await
        {
            Err(_elapsed) => {
                let missing = match until {
                    Until::Checkpoint(_) => "checkpoint",
                    Until::Closed => "close",
                };
                seen.push(Seen::Other {
                    target: format!("(no {missing} within {}s)", wait.as_secs()),
                    arguments: vec![],
                });
                return (seen, false);
            }
            Ok(event) => event,
        };
        match event {
            Some(Event::Invocation { target, arguments }) => {
                if let Until::Checkpoint(step) = until
                    && target == CHECKPOINT
                    && arguments == [Value::from(step)]
                {
                    return (seen, false);
                }
                match (target.as_str(), arguments.as_slice()) {
                    (SEND_MESSAGE_TARGET, [_, Value::String(text)]) => {
                        seen.push(Seen::Text(text.clone()))
                    }
                    _ => seen.push(Seen::Other { target, arguments }),
                }
            }
            Some(Event::Closed { error }) => {
                seen.push(Seen::Closed(error));
                return (seen, true);
            }
            None => {
                seen.push(Seen::Closed(None));
                return (seen, true);
            }
            Some(Event::Reconnecting { error }) => seen.push(Seen::Reconnecting(error)),
            Some(other) => seen.push(Seen::Other {
                target: format!("{other:?}"),
                arguments: vec![],
            }),
        }
    }
}
