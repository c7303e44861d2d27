//! Token validation through the real app: any token text, or any header and claims signed with
//! the right key, on a REST send and on negotiate. What is accepted must hold up: at most 4096
//! characters, an HMAC algorithm, `exp` not past and `nbf` not ahead (five minutes' leeway),
//! and an audience naming the route (REST) or the hub (client).
#![no_main]
use axum::body::Body;
use axum::http::Request;
use azure_signalr_rest_fuzz::{answer, now, sign_raw};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const LEEWAY: i64 = 300;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        sign_raw(header, claims)
    };
    let rest_route = mode & 2 == 0;
    let request = if rest_route {
        Request::post("/api/hubs/chat/:send")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"target":"t","arguments":[]}"#))
    } else {
        Request::post("/client/negotiate?hub=chat&negotiateVersion=1").body(Body::empty())
    };
    let Ok(mut request) = request else { return };
    let Ok(value) = format!("Bearer {token}").parse() else {
        return;
    };
    request.headers_mut().insert("authorization", value);
    request
        .headers_mut()
        .insert("host", "localhost".parse().unwrap());
    let answer = answer(request);
    if !answer.status.is_success() {
        return;
    }
    // Accepted: check it independently.
    let token = token.trim();
    assert!(
        token.len() <= 4096,
        "a {}-character token was accepted",
        token.len()
    );
    let segment = |i: usize| -> Value {
        let part = token.split('.').nth(i).unwrap_or("");
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()
            // Lossy: serde_json skips unknown claims without checking their UTF-8, so the
            // emulator (like any serde reader) accepts invalid bytes there.
            .and_then(|b| serde_json::from_str(&String::from_utf8_lossy(&b)).ok())
            .unwrap_or(Value::Null)
    };
    let header = segment(0);
    let claims = segment(1);
    let alg = header["alg"].as_str().unwrap_or("");
    assert!(
        ["HS256", "HS384", "HS512"].contains(&alg),
        "accepted with alg {alg:?}"
    );
    let now = now() as i64;
    let exp = claims["exp"]
        .as_f64()
        .expect("accepted without a numeric exp");
    assert!(
        exp as i64 >= now - LEEWAY,
        "accepted with exp {exp} (now {now})"
    );
    match &claims["nbf"] {
        Value::Null => {}
        Value::Number(n) => {
            let nbf = n.as_f64().unwrap_or(f64::MAX) as i64;
            assert!(nbf <= now + LEEWAY, "accepted with nbf {nbf} (now {now})");
        }
        other => panic!("accepted with a non-numeric nbf {other}"),
    }
    let audiences: Vec<String> = match &claims["aud"] {
        Value::String(s) => vec![s.to_ascii_lowercase()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
        other => panic!("accepted with aud {other}"),
    };
    // REST: the route's path. Client: the path `/client` (a trailing slash or not, as the
    // emulator reads it) with `hub=chat` among the query parameters.
    let names_route = |aud: &String| {
        if rest_route {
            return aud.contains("/api/hubs/chat");
        }
        url::Url::parse(aud).is_ok_and(|url| {
            url.path().trim_end_matches('/') == "/client"
                && url
                    .query_pairs()
                    .any(|(k, v)| k == "hub" && v.eq_ignore_ascii_case("chat"))
        })
    };
    assert!(
        audiences.iter().any(names_route),
        "accepted with aud {audiences:?}, which does not name the route"
    );
});
