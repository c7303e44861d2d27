//! The SignalR hub-protocol codec (JSON and MessagePack).
