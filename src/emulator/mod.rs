//! A local emulator of Azure SignalR Service.
