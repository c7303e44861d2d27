//! The negotiate handler through the real app: any method, query, headers and body on
//! `/client/negotiate`. A 200 (other than a CORS preflight's) needs a token and carries a well-formed negotiate response;
//! a 429 says when to retry.
#![no_main]
use azure_signalr_rest_fuzz::{answer, RawRequest};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some(mut raw) = RawRequest::parse(data) else {
        return;
    };
    let query = raw.target.split_once('?').map(|(_, q)| q.to_string());
    let path = if raw.path().ends_with('/') {
        "/client/negotiate/"
    } else {
        "/client/negotiate"
    };
    raw.target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let Some(request) = raw.to_http() else {
        return;
    };
    let answer = answer(request);
    match answer.status.as_u16() {
        // A CORS preflight (OPTIONS) is answered 200 without a token, as browsers need.
        200 if raw.method != "OPTIONS" => {
            assert!(
                raw.headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("authorization")),
                "negotiated without an Authorization header"
            );
            let body: Value = answer
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .expect("a 200 negotiate answer is JSON");
            let id = body["connectionId"].as_str().expect("connectionId");
            assert!(!id.is_empty());
            let version = body["negotiateVersion"].as_u64().expect("negotiateVersion");
            assert!(version <= 1, "negotiateVersion {version}");
            if version == 1 {
                let token = body["connectionToken"].as_str().expect("connectionToken");
                assert_ne!(token, id, "the connection token is the connection id");
            }
            let transports = body["availableTransports"].as_array().expect("transports");
            assert!(!transports.is_empty());
        }
        429 => assert!(
            answer.headers.contains_key("retry-after"),
            "429 without Retry-After"
        ),
        _ => {}
    }
});
