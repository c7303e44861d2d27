//! One adapter per API version, each in its own file, readable top to bottom as "what this
//! version does": it maps a typed [`Call`] to its raw generated call, or answers
//! `Unsupported`. What several versions share (composing list sends from single sends,
//! refusing what a version lacks before any traffic) is here, once, keyed on
//! [`ApiVersion::support`].
//!
//! Adding a version: its spec in `specs/` (the build generates `raw::<module>`), its adapter
//! file here, one line in [`adapters!`] below and one in `api_versions!` (`version.rs`).

use std::str::FromStr;

use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;

use super::error::Error;
use super::executor::Executor;
use super::version::{ApiVersion, Operation, Support};
use crate::raw::RequestHook;

mod call;

use call::unsupported;
pub(crate) use call::{not_existed, Call, Target};

/// How many single calls a composed operation (e.g. `send_to_users` on 1.0) runs at once.
const COMPOSED_CONCURRENCY: usize = 16;

/// Declares the adapter modules and the raw client of each version: one line per version,
/// `Variant => module` (the module names both the adapter file and `raw::<module>`).
macro_rules! adapters {
    ($($variant:ident => $module:ident,)+) => {
        $(mod $module;)+

        /// The raw client of the chosen version.
        pub(crate) enum RawClient {
            $($variant(crate::raw::$module::Client),)+
        }

        impl RawClient {
            /// The raw client of `version`, sending through `http` with `hook` on every request.
            pub(crate) fn new(
                version: ApiVersion,
                base_url: &str,
                http: &reqwest::Client,
                hook: RequestHook,
            ) -> RawClient {
                match version {
                    $(ApiVersion::$variant => RawClient::$variant(
                        crate::raw::$module::Client::new_with_client(base_url, http.clone(), hook),
                    ),)+
                }
            }

            /// The client's version.
            pub(crate) fn version(&self) -> ApiVersion {
                match self {
                    $(RawClient::$variant(_) => $module::VERSION,)+
                }
            }

            /// Whether an existence check's 404 without an error code means "does not exist".
            pub(crate) fn bare_404_means_absent(&self) -> bool {
                match self {
                    $(RawClient::$variant(_) => $module::BARE_404_MEANS_ABSENT,)+
                }
            }

            fn takes_payloads(&self) -> bool {
                match self {
                    $(RawClient::$variant(_) => $module::TAKES_PAYLOADS,)+
                }
            }

            /// One call as the version's adapter makes it.
            async fn send_native(
                &self,
                exec: &Executor,
                to: &Target<'_>,
                call: &Call<'_>,
            ) -> Result<StatusCode, Error> {
                match self {
                    $(RawClient::$variant(c) => $module::send(c, exec, to, call).await,)+
                }
            }
        }

        impl ApiVersion {
            /// How this version offers `operation`.
            ///
            /// ```
            /// use azure_signalr_rest::{ApiVersion, Operation, Support};
            /// assert_eq!(ApiVersion::V1.support(Operation::SendToUsers), Support::Composed);
            /// assert_eq!(ApiVersion::V1.support(Operation::CloseAllConnections), Support::Unsupported);
            /// assert_eq!(ApiVersion::V2022_06_01.support(Operation::CloseAllConnections), Support::Native);
            /// ```
            pub fn support(self, operation: Operation) -> Support {
                use Operation::*;
                match operation {
                    ParseConnectionString | BuildClient | BuildMessage | MintToken | Negotiate => {
                        Support::Local
                    }
                    _ => match self {
                        $(ApiVersion::$variant => $module::support(operation),)+
                    },
                }
            }
        }
    };
}

adapters! {
    V1Preview => v1_preview,
    V1 => v1,
    V2022_06_01 => v2022_06_01,
}

impl ApiVersion {
    /// `Ok` when this version can do `operation`, else `Unsupported`.
    pub(crate) fn require(self, operation: Operation) -> Result<(), Error> {
        match self.support(operation) {
            Support::Unsupported => Err(unsupported(operation, self)),
            _ => Ok(()),
        }
    }
}

impl FromStr for ApiVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = ApiVersion::ALL.iter().map(|v| v.as_str()).collect();
                Error::invalid(
                    Operation::BuildClient,
                    "API version",
                    format!("`{s}` is not one of {}", known.join(", ")),
                )
            })
    }
}

impl RawClient {
    /// Makes `call`: natively, composed of single calls, or refused before any traffic when
    /// the version lacks it.
    pub(crate) async fn send(
        &self,
        exec: &Executor,
        to: &Target<'_>,
        call: &Call<'_>,
    ) -> Result<StatusCode, Error> {
        let op = call.operation();
        let version = self.version();
        if call.message().is_some_and(|m| m.is_pre_serialized()) && !self.takes_payloads() {
            return Err(Error::invalid(
                op,
                "message",
                format!(
                    "pre-serialized payloads are sent with API version 2022-06-01 only (this \
                     client uses {version})"
                ),
            ));
        }
        // A native list send joins the names with commas: a name containing one goes alone.
        let split = |names: &[&str]| names.iter().any(|n| n.contains(','));
        match (version.support(op), *call) {
            (Support::Unsupported | Support::Local, _) => Err(unsupported(op, version)),
            (Support::Native, Call::SendToUsers { users, .. }) if !split(users) => {
                self.send_native(exec, to, call).await
            }
            (Support::Native, Call::SendToGroups { groups, .. }) if !split(groups) => {
                self.send_native(exec, to, call).await
            }
            (_, Call::SendToUsers { users, message }) => {
                let one = |user| Call::SendToUser { user, message };
                self.compose(exec, to, op, users, one).await
            }
            (
                _,
                Call::SendToGroups {
                    groups,
                    message,
                    excluded,
                },
            ) => {
                let one = |group| Call::SendToGroup {
                    group,
                    message,
                    excluded,
                };
                self.compose(exec, to, op, groups, one).await
            }
            (Support::Native, _) => self.send_native(exec, to, call).await,
            (Support::Composed, _) => Err(unsupported(op, version)),
        }
    }

    /// One concurrent single call per name (bounded); the first error in name order, labelled
    /// with the composed operation. The others may have been delivered.
    async fn compose<'a>(
        &self,
        exec: &Executor,
        to: &Target<'_>,
        op: Operation,
        names: &'a [&'a str],
        one: impl Fn(&'a str) -> Call<'a>,
    ) -> Result<StatusCode, Error> {
        // A named async fn rather than closures returning async blocks: keeps the future
        // `Send` for `tokio::spawn` (closures here hit rustc's higher-ranked lifetime limits).
        let mut calls = names.iter().enumerate();
        let mut running = FuturesUnordered::new();
        let mut first_error: Option<(usize, Error)> = None;
        for (i, name) in calls.by_ref().take(COMPOSED_CONCURRENCY) {
            running.push(self.indexed(exec, to, i, one(name)));
        }
        while let Some((i, result)) = running.next().await {
            if let Err(error) = result
                && first_error.as_ref().is_none_or(|(j, _)| i < *j)
            {
                first_error = Some((i, error));
            }
            if let Some((i, name)) = calls.next() {
                running.push(self.indexed(exec, to, i, one(name)));
            }
        }
        match first_error {
            Some((_, error)) => Err(error.with_operation(op)),
            None => Ok(StatusCode::ACCEPTED),
        }
    }

    async fn indexed(
        &self,
        exec: &Executor,
        to: &Target<'_>,
        i: usize,
        call: Call<'_>,
    ) -> (usize, Result<StatusCode, Error>) {
        (i, self.send_native(exec, to, &call).await)
    }
}

#[cfg(test)]
mod tests;
