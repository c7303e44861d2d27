//! The endpoints of a client with several, and how one call is spread over them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;

use super::{EndpointRouter, EndpointStatus, PartialDelivery};
use crate::client::api::{Call, Target};
use crate::client::error::{EndpointError, Error, ErrorKind};
use crate::client::negotiate::NegotiateOptions;
use crate::client::shared::Shared;
use crate::client::version::Operation;

/// Several endpoints behind one client.
pub(crate) struct Fleet {
    /// In configuration order; names unique.
    members: Vec<Arc<Shared>>,
    router: Arc<dyn EndpointRouter>,
    partial: PartialDelivery,
    /// Time between two health checks of each endpoint.
    #[allow(dead_code)]
    health_check_interval: Duration,
}

impl Fleet {
    pub(crate) fn new(
        members: Vec<Arc<Shared>>,
        router: Arc<dyn EndpointRouter>,
        partial: PartialDelivery,
        health_check_interval: Duration,
    ) -> Fleet {
        Fleet {
            members,
            router,
            partial,
            health_check_interval,
        }
    }

    /// Every endpoint's status, in configuration order.
    pub(crate) fn statuses(&self) -> Vec<EndpointStatus> {
        self.members.iter().map(|m| m.status.clone()).collect()
    }

    /// The endpoint named `name`.
    pub(crate) fn member(&self, name: &str) -> Option<&Arc<Shared>> {
        self.members.iter().find(|m| &*m.status.name == name)
    }

    /// The endpoint a new client of `hub` connects to.
    pub(crate) fn negotiate_member(
        &self,
        hub: &str,
        options: &NegotiateOptions,
    ) -> Result<&Arc<Shared>, Error> {
        let online: Vec<EndpointStatus> = self
            .members
            .iter()
            .filter(|m| m.status.is_online())
            .map(|m| m.status.clone())
            .collect();
        let chosen = self.router.negotiate_endpoint(hub, options, &online);
        chosen.and_then(|c| self.member(c.name())).ok_or_else(|| {
            Error::new(
                Operation::Negotiate,
                ErrorKind::Endpoints {
                    failed: self
                        .members
                        .iter()
                        .map(|m| EndpointError {
                            endpoint: m.status.name.to_string(),
                            error: Error::new(Operation::Negotiate, ErrorKind::Offline),
                        })
                        .collect(),
                    succeeded: Vec::new(),
                },
            )
        })
    }

    /// `call` on every endpoint (a first version: no routing, no health, no asking).
    pub(crate) async fn call(&self, to: &Target<'_>, call: Call<'_>) -> Result<StatusCode, Error> {
        let results = join_all(
            self.members
                .iter()
                .map(|m| async move { m.raw.send(&m.executor, to, &call).await }),
        )
        .await;
        let mut failed = Vec::new();
        let mut succeeded = Vec::new();
        let mut status = None;
        for (member, result) in self.members.iter().zip(results) {
            match result {
                Ok(s) => {
                    status.get_or_insert(s);
                    succeeded.push(member.status.name.to_string());
                }
                Err(error) => failed.push(EndpointError {
                    endpoint: member.status.name.to_string(),
                    error,
                }),
            }
        }
        match status {
            Some(s) if failed.is_empty() || self.partial == PartialDelivery::Succeed => Ok(s),
            _ => Err(Error::new(
                call.operation(),
                ErrorKind::Endpoints { failed, succeeded },
            )),
        }
    }
}
