//! A receiving SignalR client.
