//! Token checks, as the service and Microsoft's official emulator make them.
//!
//! - Signature: HS256, HS384 or HS512 with the access key's UTF-8 bytes (the .NET SDK signs
//!   HS256 by default and can be told to use HS512); `alg: none` and anything else is refused.
//! - Lifetime: `exp` is required; `exp` and (when present) `nbf` are checked with a clock-skew
//!   leeway of [`CLOCK_SKEW`], the ASP.NET default, so a sender whose clock is a little off
//!   is not refused.
//! - Audience: scheme, host and path of `aud` must name the URL the request used. A port in
//!   `aud` must match; `aud` without one matches any port (the .NET SDK signs the host of its
//!   `Endpoint` without the port, even when it calls another port or a `ServerEndpoint`). The
//!   query of a REST audience is ignored (the SDK puts `api-version` there and appends
//!   `excluded`, `reason`, `ttl` after signing); a client audience must name the hub in its
//!   `hub` query parameter (case-insensitively), and neither its port nor its other query
//!   parameters are compared.
//! - User: `asrs.s.uid` (what the .NET SDK writes), else `nameid` (or its long claim-type URI),
//!   else `sub`: the official emulator's order.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, Uri};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

/// How far past `exp` (and before `nbf`) a token is still accepted: ASP.NET's default
/// `ClockSkew`, so a sender whose clock is a little off is not refused.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The longest token accepted, client or REST: the service's limit (the .NET SDK refuses to
/// make a longer one, `AccessToken must not be longer than 4K`).
pub(crate) const MAX_TOKEN_LENGTH: usize = 4096;

/// The `WWW-Authenticate` value of every 401, as ASP.NET's JWT bearer handler answers.
pub(crate) const CHALLENGE: HeaderValue = HeaderValue::from_static("Bearer");

/// The claims the emulator reads; everything else in a token is ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default, rename = "asrs.s.uid")]
    asrs_uid: Option<Value>,
    #[serde(default)]
    nameid: Option<Value>,
    #[serde(
        default,
        rename = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
    )]
    nameid_uri: Option<Value>,
    #[serde(default)]
    sub: Option<Value>,
}

/// A verified token's useful content.
#[derive(Debug)]
pub(crate) struct Verified {
    pub user_id: Option<String>,
}

/// What the token's audience must name.
pub(crate) enum Audience<'a> {
    /// A REST call: the request path (the query is not compared).
    Rest { path: &'a str },
    /// A client call: `<endpoint>/client/?hub=<hub>`.
    Client { hub: &'a str },
}

/// Where a request may carry its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenPlace {
    /// Only the `Authorization` header (REST calls, negotiate).
    Header,
    /// The header, else the `access_token` query parameter: client transport requests, because
    /// browsers cannot set headers on a WebSocket or an `EventSource`.
    HeaderOrQuery,
}

fn query_token(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// The bearer token of a request, from where `place` allows it. A token found only where it
/// is not allowed is an error with a reason fit for a 401 body.
pub(crate) fn bearer_token(
    headers: &HeaderMap,
    uri: &Uri,
    place: TokenPlace,
) -> Result<Option<String>, String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
        return token
            .map(Some)
            .ok_or_else(|| "the Authorization header must be 'Bearer <token>'".to_string());
    }
    match (query_token(uri), place) {
        (Some(token), TokenPlace::HeaderOrQuery) => Ok(Some(token)),
        (Some(_), TokenPlace::Header) => Err("a token in the access_token query parameter is \
             accepted only on client transport requests; send it in the Authorization header"
            .into()),
        (None, _) => Ok(None),
    }
}

/// The algorithms accepted, by their JOSE names.
fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "HS384" => Some(Algorithm::HS384),
        "HS512" => Some(Algorithm::HS512),
        _ => None,
    }
}

const ALG_RULE: &str = "token must be signed with HS256, HS384 or HS512";

/// Checks a token; the error is a short reason fit for a 401 body (never the token).
pub(crate) fn verify(
    token: Option<&str>,
    key: &str,
    entra: Option<&super::entra::EntraTrust>,
    host: Option<&str>,
    audience: Audience<'_>,
) -> Result<Verified, String> {
    let token = token.ok_or("missing bearer token")?;
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(format!(
            "access token is {} characters long; the limit is {MAX_TOKEN_LENGTH} (4K)",
            token.len()
        ));
    }
    // Read the algorithm by hand to name the rule plainly, including for `none`, which the JWT
    // library reports only as an unparsable header.
    let alg = token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h.trim_end_matches('='))
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_string))
        .ok_or("malformed token")?;
    // Entra ID (issue 13): Entra tokens, and tokens signed with a key handed out for one.
    let rest = matches!(audience, Audience::Rest { .. });
    let handed_out;
    let key = match super::entra::route(entra, token, &alg, rest, CLOCK_SKEW)? {
        super::entra::Route::Entra(user_id) => return Ok(Verified { user_id }),
        super::entra::Route::HandedOutKey(k) => {
            handed_out = k;
            handed_out.as_str()
        }
        super::entra::Route::AccessKey => key,
    };
    let alg = algorithm(&alg).ok_or(ALG_RULE)?;
    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false; // checked below against the URL the caller used
    validation.leeway = CLOCK_SKEW.as_secs();
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "token expired".to_string(),
            ErrorKind::ImmatureSignature => "token not valid yet (nbf)".to_string(),
            ErrorKind::InvalidSignature => "invalid token signature".to_string(),
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => ALG_RULE.to_string(),
            ErrorKind::MissingRequiredClaim(c) => format!("token lacks the '{c}' claim"),
            ErrorKind::InvalidClaimFormat(c) => format!("token claim '{c}' is malformed"),
            _ => "malformed token".to_string(),
        }
    })?;
    let claims = data.claims;
    let host = host.ok_or("missing Host header")?;
    let audiences: Vec<&str> = match &claims.aud {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err("token lacks the 'aud' claim".into()),
    };
    if !audiences
        .iter()
        .any(|aud| audience_matches(aud, host, &audience))
    {
        return Err(match audience {
            Audience::Rest { .. } => "token audience does not match the request URL",
            Audience::Client { .. } => {
                "token audience must be <endpoint>/client/?hub=<the hub connected to>"
            }
        }
        .into());
    }
    let user_id = [
        claims.asrs_uid,
        claims.nameid,
        claims.nameid_uri,
        claims.sub,
    ]
    .into_iter()
    .flatten()
    .find_map(claim_text);
    Ok(Verified { user_id })
}

/// A claim's value as text. A claim given several times is an array in the JWT (as .NET writes
/// repeated claims); ASP.NET's `FindFirst` takes the first, and so does this.
fn claim_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(values) => values.into_iter().next().and_then(claim_text),
        _ => None,
    }
}

fn decoded(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn trim_slash(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }
}

fn audience_matches(aud: &str, host: &str, expected: &Audience<'_>) -> bool {
    let Ok(aud) = url::Url::parse(aud) else {
        return false;
    };
    // The Host header carries host[:port] as the client wrote it; parse it the same way.
    let Ok(seen) = url::Url::parse(&format!("http://{host}/")) else {
        return false;
    };
    // `port()` is None both without a port and with the scheme's default one: either way the
    // audience names no port of its own to compare. A client audience's port is not compared
    // at all: like its other query parameters, it is not what the token is for.
    let port_differs = aud
        .port()
        .is_some_and(|port| Some(port) != seen.port_or_known_default());
    if !matches!(aud.scheme(), "http" | "ws")
        || aud.host_str().map(str::to_ascii_lowercase)
            != seen.host_str().map(str::to_ascii_lowercase)
        || (port_differs && matches!(expected, Audience::Rest { .. }))
    {
        return false;
    }
    match expected {
        Audience::Rest { path } => decoded(trim_slash(aud.path())) == decoded(trim_slash(path)),
        Audience::Client { hub } => {
            trim_slash(aud.path()) == "/client"
                && aud
                    .query_pairs()
                    .find(|(k, _)| k == "hub")
                    .is_some_and(|(_, v)| v.eq_ignore_ascii_case(hub))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(aud: &str, host: &str, path: &str) -> bool {
        audience_matches(aud, host, &Audience::Rest { path })
    }

    #[test]
    fn rest_audience_port_optional_query_ignored() {
        let path = "/api/hubs/chat/:send";
        assert!(rest(
            "http://localhost/api/hubs/chat/:send?api-version=2022-06-01",
            "localhost:8888",
            path
        ));
        assert!(rest(
            "http://localhost:8888/api/hubs/chat/:send",
            "localhost:8888",
            path
        ));
        assert!(rest(
            "http://LOCALHOST/api/hubs/chat/%3Asend/",
            "localhost:8888",
            path
        ));
        assert!(!rest(
            "http://localhost:9999/api/hubs/chat/:send",
            "localhost:8888",
            path
        ));
        assert!(!rest(
            "https://localhost/api/hubs/chat/:send",
            "localhost:8888",
            path
        ));
        assert!(!rest(
            "http://otherhost/api/hubs/chat/:send",
            "localhost:8888",
            path
        ));
        assert!(!rest(
            "http://localhost/api/hubs/other/:send",
            "localhost:8888",
            path
        ));
    }

    #[test]
    fn client_audience_names_the_hub() {
        let client =
            |aud: &str| audience_matches(aud, "127.0.0.1:5000", &Audience::Client { hub: "chat" });
        assert!(client("http://127.0.0.1/client/?hub=Chat"));
        assert!(client(
            "http://127.0.0.1:5000/client/?asrs.op=%2Fx&hub=chat"
        ));
        // The path is compared without its trailing slash, as REST paths are.
        assert!(client("http://127.0.0.1/client?hub=chat"));
        assert!(!client("http://127.0.0.1/clients/?hub=chat"));
        assert!(!client("http://127.0.0.1/client/"));
        assert!(!client("http://127.0.0.1/client/?hub=other"));
        assert!(client("http://127.0.0.1:5001/client/?hub=chat"));
        assert!(!client("http://127.0.0.2:5000/client/?hub=chat"));
    }

    #[test]
    fn user_id_claim_order_and_forms() {
        let key = "k";
        let sign = |claims: Value| {
            let mut claims = claims;
            claims["aud"] = Value::from("http://h/client/?hub=chat");
            claims["exp"] = Value::from(jsonwebtoken::get_current_timestamp() + 60);
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
            )
            .unwrap()
        };
        let user = |claims: Value| {
            verify(
                Some(&sign(claims)),
                key,
                None,
                Some("h:1"),
                Audience::Client { hub: "chat" },
            )
            .unwrap()
            .user_id
        };
        use serde_json::json;
        assert_eq!(
            user(json!({"sub": "s", "asrs.s.uid": "u"})).as_deref(),
            Some("u")
        );
        assert_eq!(
            user(json!({"sub": "s", "nameid": ["n1", "n2"]})).as_deref(),
            Some("n1")
        );
        assert_eq!(user(json!({"sub": 42})).as_deref(), Some("42"));
        assert_eq!(
            user(json!({"asrs.s.uid": "", "sub": "s"})).as_deref(),
            Some("s")
        );
        assert_eq!(user(json!({"role": "admin"})), None);
    }

    #[test]
    fn query_token_only_where_allowed() {
        let uri: Uri = "/client/?hub=chat&access_token=abc".parse().unwrap();
        let headers = HeaderMap::new();
        assert_eq!(
            bearer_token(&headers, &uri, TokenPlace::HeaderOrQuery)
                .unwrap()
                .as_deref(),
            Some("abc")
        );
        let err = bearer_token(&headers, &uri, TokenPlace::Header).unwrap_err();
        assert!(err.contains("Authorization header"), "{err}");
        assert!(!err.contains("abc"));
    }
}
