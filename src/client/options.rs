//! Optional per-call parameters, one struct per kind of call, so a parameter can be added
//! without breaking callers. Pass `None` for the defaults.

use std::time::Duration;

/// Options of a send to a hub, a group or several groups.
///
/// ```
/// use azure_signalr_rest::SendOptions;
/// let options = SendOptions::default().excluded(["conn-1", "conn-2"]);
/// assert_eq!(options.excluded, ["conn-1", "conn-2"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Connection ids that do not receive the message.
    pub excluded: Vec<String>,
}

impl SendOptions {
    /// Leaves these connections out.
    pub fn excluded(mut self, ids: impl IntoIterator<Item = impl AsRef<str>>) -> SendOptions {
        self.excluded = ids.into_iter().map(|id| id.as_ref().to_owned()).collect();
        self
    }
}

/// Options of closing connections.
///
/// ```
/// use azure_signalr_rest::CloseOptions;
/// let options = CloseOptions::default().reason("maintenance").excluded(["admin-conn"]);
/// assert_eq!(options.reason.as_deref(), Some("maintenance"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseOptions {
    /// Connection ids that stay open (bulk close only).
    pub excluded: Vec<String>,
    /// The reason the client receives in its Close message.
    pub reason: Option<String>,
}

impl CloseOptions {
    /// Keeps these connections open (bulk close only).
    pub fn excluded(mut self, ids: impl IntoIterator<Item = impl AsRef<str>>) -> CloseOptions {
        self.excluded = ids.into_iter().map(|id| id.as_ref().to_owned()).collect();
        self
    }

    /// Tells the clients why.
    pub fn reason(mut self, reason: impl Into<String>) -> CloseOptions {
        self.reason = Some(reason.into());
        self
    }
}

/// Options of adding a user to a group.
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::AddUserOptions;
/// let options = AddUserOptions::default().ttl(Duration::from_secs(3600));
/// assert_eq!(options.ttl, Some(Duration::from_secs(3600)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddUserOptions {
    /// How long the membership lasts (whole seconds; zero adds only the user's current
    /// connections); long-lived when `None`.
    pub ttl: Option<Duration>,
}

impl AddUserOptions {
    /// Sets the membership's time to live.
    pub fn ttl(mut self, ttl: Duration) -> AddUserOptions {
        self.ttl = Some(ttl);
        self
    }
}
