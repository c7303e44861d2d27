//! Token checks: HS256 JWTs signed with the access key's UTF-8 bytes, `exp` required, `aud`
//! naming the URL the caller used.

use axum::http::{header, HeaderMap, Uri};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

/// The claims the emulator reads; everything else in a token is ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    nameid: Option<Value>,
    #[serde(
        default,
        rename = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
    )]
    nameid_uri: Option<Value>,
}

/// A verified token's useful content.
#[derive(Debug)]
pub(crate) struct Verified {
    pub user_id: Option<String>,
}

/// What the token's audience must name.
pub(crate) enum Audience<'a> {
    /// A REST call: the request URL, with or without its query string.
    Rest {
        path: &'a str,
        query: Option<&'a str>,
    },
    /// A client call: `<endpoint>/client/?hub=<hub>` (query optional).
    Client { hub: &'a str },
}

/// The bearer token of a request: the `Authorization` header, else `access_token` in the query.
pub(crate) fn bearer_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// Checks a token; the error is a short reason fit for a 401 body (never the token).
pub(crate) fn verify(
    token: Option<&str>,
    key: &str,
    host: Option<&str>,
    audience: Audience<'_>,
) -> Result<Verified, String> {
    let token = token.ok_or("missing bearer token")?;
    // Name the algorithm rule plainly, including for `none`, which the JWT library
    // reports only as an unparsable header.
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
    if alg != "HS256" {
        return Err("token must be signed with HS256".into());
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_exp = true;
    validation.validate_aud = false; // checked below against the URL the caller used
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "token expired".to_string(),
            ErrorKind::InvalidSignature => "invalid token signature".to_string(),
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                "token must be signed with HS256".to_string()
            }
            ErrorKind::MissingRequiredClaim(c) => format!("token lacks the '{c}' claim"),
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
        return Err("token audience does not match the request URL".into());
    }
    let user_id = [claims.nameid, claims.nameid_uri]
        .into_iter()
        .flatten()
        .find_map(|v| match v {
            Value::String(s) if !s.is_empty() => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    Ok(Verified { user_id })
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
    if !matches!(aud.scheme(), "http" | "ws")
        || aud.host_str().map(str::to_ascii_lowercase)
            != seen.host_str().map(str::to_ascii_lowercase)
        || aud.port_or_known_default() != seen.port_or_known_default()
    {
        return false;
    }
    match expected {
        Audience::Rest { path, query } => {
            if decoded(trim_slash(aud.path())) != decoded(trim_slash(path)) {
                return false;
            }
            match aud.query() {
                None | Some("") => true,
                Some(q) => query.is_some_and(|expected| decoded(q) == decoded(expected)),
            }
        }
        Audience::Client { hub } => {
            if trim_slash(aud.path()) != "/client" {
                return false;
            }
            match aud.query() {
                None | Some("") => true,
                Some(_) => aud
                    .query_pairs()
                    .find(|(k, _)| k == "hub")
                    .is_some_and(|(_, v)| v.eq_ignore_ascii_case(hub)),
            }
        }
    }
}
