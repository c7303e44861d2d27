//! The emulator's HTTP app (REST routes and the client endpoint) with any method, path, query,
//! headers and body: an answer within 5 s, no 5xx, and no REST operation done without a token.
#![no_main]
use azure_signalr_rest_fuzz::{answer, RawRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(raw) = RawRequest::parse(data) else {
        return;
    };
    let Some(request) = raw.to_http() else {
        return;
    };
    let answer = answer(request);
    let credentials = raw
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        || raw.target.contains("access_token");
    let path = raw.path().trim_end_matches('/').to_ascii_lowercase();
    if path.starts_with("/api") && !path.ends_with("/health") && !credentials {
        assert!(
            !answer.status.is_success(),
            "{} {} answered {} without a token",
            raw.method,
            raw.target,
            answer.status
        );
    }
});
