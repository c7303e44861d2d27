//! The connection-string parser: no panic, and the access key never shows in what it returns
//! (the parsed value's `Debug`/`Display`, or the error) nor in a client built from it.
#![no_main]
use azure_signalr_rest::{ConnectionString, ServiceClient};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The key as the parser reads it; checked only when it is long enough to be told apart
    // and appears nowhere else in the input.
    let key = text
        .split(';')
        .filter_map(|s| s.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accesskey"))
        .map(|(_, v)| v.trim())
        .filter(|k| k.len() >= 8 && text.matches(*k).count() == 1);
    let shown = match text.parse::<ConnectionString>() {
        Ok(cs) => format!("{cs:?} {cs}"),
        Err(e) => format!("{e:?} {e}"),
    };
    let client = match ServiceClient::from_connection_string(text) {
        Ok(client) => format!("{client:?}"),
        Err(e) => format!("{e:?} {e}"),
    };
    if let Some(key) = key {
        assert!(!shown.contains(key), "the access key shows: {shown}");
        assert!(!client.contains(key), "the access key shows: {client}");
    }
});
