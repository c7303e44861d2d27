//! The endpoints of a client with several, and how one call is spread over them: routed
//! (`route.rs`), offline ones skipped, connection operations sent only where the connection
//! is, answers merged (`outcome.rs`); health checked in the background (`health.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;

use super::outcome::{is_absent, settle, settle_exists, skipped, Answer};
use super::route::{absent_codes, narrowed, route, Route};
use super::{health, EndpointRouter, EndpointStatus, PartialDelivery};
use crate::client::api::{Call, Target};
use crate::client::error::{EndpointError, Error, ErrorKind};
use crate::client::negotiate::NegotiateOptions;
use crate::client::shared::Shared;
use crate::client::version::{Operation, Support};

/// Several endpoints behind one client.
pub(crate) struct Fleet {
    /// In configuration order; names unique.
    members: Vec<Arc<Shared>>,
    router: Arc<dyn EndpointRouter>,
    partial: PartialDelivery,
    /// Time between two health checks of each endpoint.
    health_check_interval: Duration,
    /// Whether the background health checks run.
    checking: AtomicBool,
}

impl Fleet {
    /// The fleet, its health checks started when built inside a tokio runtime (else on its
    /// first call inside one).
    pub(crate) fn new(
        members: Vec<Arc<Shared>>,
        router: Arc<dyn EndpointRouter>,
        partial: PartialDelivery,
        health_check_interval: Duration,
    ) -> Arc<Fleet> {
        let fleet = Arc::new(Fleet {
            members,
            router,
            partial,
            health_check_interval,
            checking: AtomicBool::new(false),
        });
        fleet.watch_health();
        fleet
    }

    /// Every endpoint's status, in configuration order.
    pub(crate) fn statuses(&self) -> Vec<EndpointStatus> {
        self.members.iter().map(|m| m.status.clone()).collect()
    }

    /// The endpoint named `name`.
    pub(crate) fn member(&self, name: &str) -> Option<&Arc<Shared>> {
        self.members.iter().find(|m| &*m.status.name == name)
    }

    /// The endpoint a new client of `hub` connects to: the router's choice among the online
    /// ones.
    pub(crate) fn negotiate_member(
        self: &Arc<Self>,
        hub: &str,
        options: &NegotiateOptions,
    ) -> Result<&Arc<Shared>, Error> {
        self.watch_health();
        let online: Vec<EndpointStatus> = self
            .members
            .iter()
            .filter(|m| m.status.is_online())
            .map(|m| m.status.clone())
            .collect();
        let chosen = self.router.negotiate_endpoint(hub, options, &online);
        if let Some(member) = chosen.and_then(|c| self.member(c.name())) {
            return Ok(member);
        }
        let op = Operation::Negotiate;
        if !online.is_empty() {
            return Err(Error::invalid(
                op,
                "endpoint router",
                "chose none of the online endpoints",
            ));
        }
        let failed = self
            .members
            .iter()
            .map(|m| EndpointError {
                endpoint: m.status.name.to_string(),
                error: Error::new(op, ErrorKind::Offline),
            })
            .collect();
        Err(Error::new(
            op,
            ErrorKind::Endpoints {
                failed,
                succeeded: Vec::new(),
            },
        ))
    }

    /// Checks every endpoint now (concurrently), marking each online or offline.
    pub(crate) async fn check_all(&self) -> Vec<(EndpointStatus, Result<(), Error>)> {
        let checks = self.members.iter().map(|m| async move {
            let bound = self.health_check_interval.min(m.executor.timeout);
            (m.status.clone(), health::check(m, bound).await)
        });
        join_all(checks).await
    }

    /// `call` on the endpoints its route names. Routers see `hub` as negotiate does: the
    /// lower-cased name, without the application prefix 1.0 puts in the path of `to`.
    pub(crate) async fn call(
        self: &Arc<Self>,
        to: &Target<'_>,
        hub: &str,
        call: Call<'_>,
    ) -> Result<StatusCode, Error> {
        self.watch_health();
        let op = call.operation();
        let statuses = self.statuses();
        match route(&call, hub, &*self.router, &statuses) {
            Route::Health => {
                let answers = self.check_all().await.into_iter();
                let answers =
                    answers.map(|(s, r)| (s.name().to_owned(), r.map(|()| StatusCode::OK)));
                settle(op, self.partial, answers.collect())
            }
            Route::Fan(targets) => {
                if targets.is_empty() {
                    // As Microsoft's SDK does: nothing to send to is not a failure.
                    tracing::warn!(operation = %op, "the router chose no endpoint: nothing sent");
                }
                let calls: Vec<(usize, Call<'_>)> = targets
                    .iter()
                    .map(|(i, names)| match names {
                        Some(names) => (*i, narrowed(&call, names)),
                        None => (*i, call),
                    })
                    .collect();
                settle(op, self.partial, self.send_each(to, &calls).await)
            }
            Route::Exists(targets) => {
                let calls: Vec<_> = targets.into_iter().map(|i| (i, call)).collect();
                let answers = self.ask_each(to, &calls).await.into_iter();
                let answers = answers.map(|(_, answer)| answer).collect();
                settle_exists(op, self.partial, answers, |e| self.absent(&call, e))
            }
            Route::Connection(targets) => self.on_connection(to, call, targets).await,
        }
    }

    /// An operation on one connection: asks the routed endpoints which has it (when the
    /// version can ask) and acts there only; if none has it, answers as one endpoint would.
    async fn on_connection(
        &self,
        to: &Target<'_>,
        call: Call<'_>,
        targets: Vec<usize>,
    ) -> Result<StatusCode, Error> {
        let op = call.operation();
        let version = self.members[0].version;
        if version.support(Operation::ConnectionExists) != Support::Native {
            let calls: Vec<_> = targets.into_iter().map(|i| (i, call)).collect();
            let answers = self.send_each(to, &calls).await;
            return settle_exists(op, self.partial, answers, |e| self.absent(&call, e));
        }
        let connection = match call {
            Call::SendToConnection { connection, .. }
            | Call::CloseConnection { connection, .. }
            | Call::AddConnectionToGroup { connection, .. }
            | Call::RemoveConnectionFromGroup { connection, .. }
            | Call::RemoveConnectionFromAllGroups { connection } => connection,
            _ => unreachable!("route gives Connection only for connection operations"),
        };
        let ask = Call::ConnectionExists { connection };
        let asks: Vec<_> = targets.iter().map(|&i| (i, ask)).collect();
        let answers = self.ask_each(to, &asks).await;
        let mut holders = Vec::new();
        let mut said_no = Vec::new();
        let mut failed = Vec::new();
        for (i, (endpoint, result)) in answers {
            match result {
                Ok(_) => holders.push((i, call)),
                Err(e) if self.absent(&ask, &e) => said_no.push((i, endpoint)),
                Err(error) => failed.push(EndpointError {
                    endpoint,
                    error: error.with_operation(op),
                }),
            }
        }
        if !holders.is_empty() {
            let mut answers = self.send_each(to, &holders).await;
            // Gone since it was asked: the endpoint's own answer, as with one endpoint.
            if let [(_, Err(e))] = answers.as_slice()
                && self.absent(&call, e)
            {
                return answers.pop().expect("one").1;
            }
            return settle(op, self.partial, answers);
        }
        // The first in configuration order, whatever order the answers came in.
        said_no.sort_by_key(|(i, _)| *i);
        let Some(&(first, _)) = said_no.first() else {
            return match failed.is_empty() {
                true => Ok(StatusCode::ACCEPTED),
                false => Err(Error::new(op, endpoints(failed, Vec::new()))),
            };
        };
        if !failed.is_empty() && self.partial == PartialDelivery::Fail {
            let succeeded = said_no.into_iter().map(|(_, name)| name).collect();
            return Err(Error::new(op, endpoints(failed, succeeded)));
        }
        // Nobody has it: the answer of one endpoint that said so.
        let mut answer = self.send_each(to, &[(first, call)]).await;
        answer.pop().expect("one").1
    }

    /// Each `(endpoint, call)` concurrently, answers in the order of `calls`.
    async fn send_each(&self, to: &Target<'_>, calls: &[(usize, Call<'_>)]) -> Vec<Answer> {
        join_all(calls.iter().map(|(i, call)| self.send_one(to, *i, call))).await
    }

    /// An existence check of each `(endpoint, call)` concurrently, until one says yes (the
    /// rest are then dropped: yes is final, as a connection id is on one instance only).
    /// Answers in the order they came, with the endpoint's index.
    async fn ask_each(&self, to: &Target<'_>, calls: &[(usize, Call<'_>)]) -> Vec<(usize, Answer)> {
        let mut pending: FuturesUnordered<_> = calls
            .iter()
            .map(|(i, call)| async move { (*i, self.send_one(to, *i, call).await) })
            .collect();
        let mut answers = Vec::with_capacity(calls.len());
        while let Some((i, answer)) = pending.next().await {
            let yes = answer.1.is_ok();
            answers.push((i, answer));
            if yes {
                break;
            }
        }
        answers
    }

    /// `call` on endpoint `i`; skipped when it is offline (as [`ErrorKind::Offline`]). An
    /// endpoint that does not answer at all is marked offline.
    async fn send_one(&self, to: &Target<'_>, i: usize, call: &Call<'_>) -> Answer {
        let m = &self.members[i];
        let name = m.status.name.to_string();
        if !m.status.is_online() {
            let error = skipped(&name, call.operation());
            return (name, Err(error));
        }
        let result = m.raw.send(&m.executor, to, call).await;
        if let Err(e) = &result {
            health::note_failure(&m.status, e);
        }
        (name, result)
    }

    /// Whether `error` is `call`'s "not there" answer.
    fn absent(&self, call: &Call<'_>, error: &Error) -> bool {
        // 1.0 answers an existence check's "no" with a bare 404.
        let bare = self.members[0].raw.bare_404_means_absent()
            && matches!(
                call,
                Call::ConnectionExists { .. }
                    | Call::UserExists { .. }
                    | Call::GroupExists { .. }
                    | Call::UserInGroup { .. }
            );
        is_absent(error, absent_codes(call), bare)
    }

    /// Starts the background health checks unless they run, when inside a tokio runtime.
    /// The task holds the fleet weakly: it ends with the last clone of the client (or with
    /// its runtime, after which the next call starts it again).
    fn watch_health(self: &Arc<Self>) {
        if self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.checking.store(false, Ordering::Release);
            return;
        };
        let running = Running(Arc::downgrade(self));
        let interval = self.health_check_interval;
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(fleet) = running.0.upgrade() else {
                    break;
                };
                fleet.check_all().await;
            }
        });
    }
}

fn endpoints(failed: Vec<EndpointError>, succeeded: Vec<String>) -> ErrorKind {
    ErrorKind::Endpoints { failed, succeeded }
}

/// Held by the health task: when the task ends (its runtime shut down), the next call
/// starts another.
struct Running(Weak<Fleet>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(fleet) = self.0.upgrade() {
            fleet.checking.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{NegotiateOptions, RetryPolicy, ServiceClient, ServiceEndpoint};

    /// Two endpoints where nothing listens (port 9, discard), checked every 10 ms.
    fn unreachable_pair() -> ServiceClient {
        let cs = "Endpoint=http://127.0.0.1;Port=9;AccessKey=k";
        ServiceClient::builder()
            .endpoints(["a", "b"].map(|n| ServiceEndpoint::new(n, cs.parse().unwrap())))
            .retry_policy(RetryPolicy::none())
            .health_check_interval(Duration::from_millis(10))
            .build()
            .unwrap()
    }

    async fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn health_checks_end_with_the_last_client() {
        let client = unreachable_pair();
        let weak = std::sync::Arc::downgrade(client.fleet.as_ref().unwrap());
        let offline = || client.endpoints().iter().all(|e| !e.is_online());
        assert!(
            wait_until(offline).await,
            "the checks run from the build on"
        );
        let clone = client.clone();
        drop(client);
        assert!(weak.upgrade().is_some(), "a clone keeps the client");
        drop(clone);
        assert!(wait_until(|| weak.strong_count() == 0).await);
    }

    #[test]
    fn health_checks_start_on_the_first_call_in_a_runtime() {
        let client = unreachable_pair();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let hub = client.hub("chat");
            // Online until checked: negotiate works, and starts the checks.
            hub.negotiate_local(NegotiateOptions::default()).unwrap();
            let offline = || client.endpoints().iter().all(|e| !e.is_online());
            assert!(wait_until(offline).await);
            let err = hub
                .negotiate_local(NegotiateOptions::default())
                .unwrap_err();
            assert!(err.to_string().contains("a (offline"), "{err}");
        });
    }

    /// Records the hubs it is asked about.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl crate::EndpointRouter for std::sync::Arc<Recorder> {
        fn negotiate_endpoint<'a>(
            &self,
            hub: &str,
            _: &NegotiateOptions,
            online: &'a [crate::EndpointStatus],
        ) -> Option<&'a crate::EndpointStatus> {
            self.0.lock().unwrap().push(hub.to_owned());
            online.first()
        }

        fn endpoints_for_broadcast<'a>(
            &self,
            hub: &str,
            _: &'a [crate::EndpointStatus],
        ) -> Vec<&'a crate::EndpointStatus> {
            self.0.lock().unwrap().push(hub.to_owned());
            Vec::new()
        }
    }

    #[tokio::test]
    async fn routers_see_the_hub_without_the_application_prefix() {
        let recorder = std::sync::Arc::new(Recorder::default());
        for version in crate::ApiVersion::ALL {
            let cs = "Endpoint=http://127.0.0.1;Port=9;AccessKey=k";
            let client = ServiceClient::builder()
                .endpoints(["a", "b"].map(|n| ServiceEndpoint::new(n, cs.parse().unwrap())))
                .api_version(version)
                .application("App")
                .router(recorder.clone())
                .build()
                .unwrap();
            let hub = client.hub("Chat");
            hub.negotiate_local(NegotiateOptions::default()).unwrap();
            // Routed nowhere: nothing sent, not a failure.
            let message = crate::Message::new("t", ()).unwrap();
            hub.broadcast(&message, None).await.unwrap();
        }
        let seen = recorder.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 2 * crate::ApiVersion::ALL.len());
        assert!(seen.iter().all(|h| h == "chat"), "{seen:?}");
    }
}
