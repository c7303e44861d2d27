//! Secrets, token minting and caller-supplied bearer tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use super::error::Error;
use super::version::Operation;

/// An access key: the secret that signs tokens. `Debug` and `Display` never show it.
///
/// ```
/// use azure_signalr_rest::AccessKey;
/// let key = AccessKey::new("my-secret-key");
/// assert_eq!(format!("{key:?}"), "AccessKey(<redacted>)");
/// assert!(!format!("{key}").contains("my-secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey(Arc<str>);

impl AccessKey {
    /// Wraps the key text (used as UTF-8 bytes, not base64-decoded).
    ///
    /// ```
    /// let key = azure_signalr_rest::AccessKey::new("k");
    /// assert_eq!(key.expose_secret(), "k");
    /// ```
    pub fn new(key: impl Into<String>) -> AccessKey {
        AccessKey(Arc::from(key.into()))
    }

    /// The key itself, for the rare caller that must hand it on (e.g. to sign upstream
    /// signatures). Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A bearer token (a JWT). `Debug` and `Display` redact it; cloning is cheap and shares the text,
/// so two clones of one minted token are [`Token::same`].
///
/// ```
/// use azure_signalr_rest::Token;
/// let t = Token::new("eyJ.secret.sig");
/// assert_eq!(format!("{t:?}"), "Token(<redacted>)");
/// assert_eq!(t.expose_secret(), "eyJ.secret.sig");
/// assert!(t.same(&t.clone()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>);

impl Token {
    /// Wraps a token obtained elsewhere (e.g. from Microsoft Entra ID).
    ///
    /// ```
    /// let t = azure_signalr_rest::Token::new("a.b.c");
    /// assert_eq!(t.to_string(), "<redacted>");
    /// ```
    pub fn new(token: impl Into<String>) -> Token {
        Token(Arc::from(token.into()))
    }

    /// The token text, to put in an `Authorization` header or hand to a client.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether both are the very same minted token (not merely equal text): a cached token is
    /// handed out again without signing anything.
    ///
    /// ```
    /// let t = azure_signalr_rest::Token::new("a.b.c");
    /// assert!(!t.same(&azure_signalr_rest::Token::new("a.b.c")));
    /// ```
    pub fn same(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

// A negotiate response hands the token to the client, so it serializes as its text.
impl serde::Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Token::new)
    }
}

/// What a token says: audience, lifetime, optional user id and extra claims.
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::TokenClaims;
/// let claims = TokenClaims::new("http://localhost:8888/client/?hub=chat", Duration::from_secs(60))
///     .user_id("alice")
///     .claim("role", "admin");
/// assert_eq!(claims.audience, "http://localhost:8888/client/?hub=chat");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TokenClaims {
    /// The `aud` claim: the URL the token is for.
    pub audience: String,
    /// How long the token is valid (`exp` = now + lifetime).
    pub lifetime: Duration,
    /// The user the token speaks for, written as the `asrs.s.uid` claim: the claim Microsoft's
    /// .NET SDK writes and the service (and the official emulator) reads first.
    pub user_id: Option<String>,
    /// Further claims, passed through as given (e.g. roles for a client token, or `nameid` /
    /// `sub`). They may not replace `aud`, `exp`, `iat`, `nbf` or `asrs.s.uid`.
    pub extra: Map<String, Value>,
}

/// Claims the minter sets itself.
const RESERVED_CLAIMS: [&str; 5] = ["aud", "exp", "iat", "nbf", USER_ID_CLAIM];

/// The claim that carries the user id (`Constants.ClaimType.UserId` of the .NET SDK).
const USER_ID_CLAIM: &str = "asrs.s.uid";

impl TokenClaims {
    /// Claims for `audience`, valid for `lifetime`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = azure_signalr_rest::TokenClaims::new("http://h/api/health", Duration::from_secs(60));
    /// assert!(c.user_id.is_none() && c.extra.is_empty());
    /// ```
    pub fn new(audience: impl Into<String>, lifetime: Duration) -> TokenClaims {
        TokenClaims {
            audience: audience.into(),
            lifetime,
            user_id: None,
            extra: Map::new(),
        }
    }

    /// Sets the user id (the `asrs.s.uid` claim).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = azure_signalr_rest::TokenClaims::new("a", Duration::from_secs(1)).user_id("u");
    /// assert_eq!(c.user_id.as_deref(), Some("u"));
    /// ```
    pub fn user_id(mut self, user_id: impl Into<String>) -> TokenClaims {
        self.user_id = Some(user_id.into());
        self
    }

    /// Adds a custom claim.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = azure_signalr_rest::TokenClaims::new("a", Duration::from_secs(1)).claim("role", "admin");
    /// assert_eq!(c.extra["role"], "admin");
    /// ```
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> TokenClaims {
        self.extra.insert(name.into(), value.into());
        self
    }
}

/// A cached REST token and when to stop handing it out.
struct CachedToken {
    token: Token,
    refresh_at: SystemTime,
}

/// Bound on cached audiences: a REST audience names a user, group or connection, so a long-lived
/// client could otherwise grow the cache without bound.
const MAX_CACHED_AUDIENCES: usize = 4096;

/// The one token minter: signs HS256 JWTs with an access key, for REST calls (cached per
/// audience) and for clients (negotiate).
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::{AccessKey, TokenClaims, TokenMinter};
///
/// let minter = TokenMinter::new(AccessKey::new("secret"));
/// let url = "https://x.service.signalr.net/api/hubs/chat/:send";
/// let first = minter.rest_token(url).unwrap();
/// let again = minter.rest_token(url).unwrap();
/// assert!(first.same(&again));
/// assert_eq!(minter.signatures(), 1);
///
/// let client = minter
///     .mint(&TokenClaims::new("https://x.service.signalr.net/client/?hub=chat", Duration::from_secs(3600)).user_id("alice"))
///     .unwrap();
/// assert_eq!(client.expose_secret().split('.').count(), 3);
/// ```
pub struct TokenMinter {
    key: AccessKey,
    encoding_key: EncodingKey,
    rest_lifetime: Duration,
    refresh_before: Duration,
    cache: Mutex<HashMap<String, CachedToken>>,
    signatures: AtomicU64,
    /// The `kid` header of every token: the id of a key handed out by the service (Entra ID).
    key_id: Option<String>,
}

impl fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMinter")
            .field("key", &self.key)
            .field("rest_lifetime", &self.rest_lifetime)
            .field("refresh_before", &self.refresh_before)
            .field("signatures", &self.signatures())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenMinter {
    /// Default lifetime of REST tokens.
    pub const REST_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
    /// A cached REST token is replaced this long before it expires.
    pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

    /// A minter signing with `key`.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// let minter = TokenMinter::new(AccessKey::new("k"));
    /// assert_eq!(minter.signatures(), 0);
    /// ```
    pub fn new(key: AccessKey) -> TokenMinter {
        TokenMinter::with_rest_lifetime(key, Self::REST_TOKEN_LIFETIME, Self::REFRESH_BEFORE_EXPIRY)
    }

    /// A minter whose REST tokens live `lifetime` and are replaced `refresh_before` their expiry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// // Replaced as soon as minted: every call signs a new token.
    /// let minter = TokenMinter::with_rest_lifetime(AccessKey::new("k"), Duration::from_secs(60), Duration::from_secs(60));
    /// minter.rest_token("http://localhost/api/health").unwrap();
    /// minter.rest_token("http://localhost/api/health").unwrap();
    /// assert_eq!(minter.signatures(), 2);
    /// ```
    pub fn with_rest_lifetime(
        key: AccessKey,
        lifetime: Duration,
        refresh_before: Duration,
    ) -> TokenMinter {
        TokenMinter {
            encoding_key: EncodingKey::from_secret(key.expose_secret().as_bytes()),
            key,
            rest_lifetime: lifetime,
            refresh_before,
            cache: Mutex::new(HashMap::new()),
            signatures: AtomicU64::new(0),
            key_id: None,
        }
    }

    /// A minter for a key the service handed out under an id (`kid`), as with Microsoft Entra
    /// ID: every token's header names the key, so the service knows which one to check with.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// use base64::Engine as _;
    /// let minter = TokenMinter::with_key_id(AccessKey::new("k"), "key-1");
    /// assert_eq!(minter.key_id(), Some("key-1"));
    /// let token = minter.rest_token("http://h/api/health").unwrap();
    /// let header = token.expose_secret().split('.').next().unwrap();
    /// let header: serde_json::Value = serde_json::from_slice(
    ///     &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap(),
    /// )
    /// .unwrap();
    /// assert_eq!(header["kid"], "key-1");
    /// ```
    pub fn with_key_id(key: AccessKey, key_id: impl Into<String>) -> TokenMinter {
        TokenMinter {
            key_id: Some(key_id.into()),
            ..TokenMinter::new(key)
        }
    }

    /// The `kid` this minter names in its tokens' header, if any.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// assert_eq!(TokenMinter::new(AccessKey::new("k")).key_id(), None);
    /// ```
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The key this minter signs with.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// let minter = TokenMinter::new(AccessKey::new("k"));
    /// assert_eq!(minter.access_key(), &AccessKey::new("k"));
    /// ```
    pub fn access_key(&self) -> &AccessKey {
        &self.key
    }

    /// How many tokens this minter has signed (cache hits sign nothing).
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// let minter = TokenMinter::new(AccessKey::new("k"));
    /// minter.rest_token("http://h/api/v1/health").unwrap();
    /// minter.rest_token("http://h/api/v1/health").unwrap();
    /// assert_eq!(minter.signatures(), 1);
    /// ```
    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    /// Signs a token with `claims`: `aud`, `iat`, `exp`, `asrs.s.uid` when a user id is set, and
    /// the extra claims.
    ///
    /// ```
    /// use std::time::Duration;
    /// use azure_signalr_rest::{AccessKey, TokenClaims, TokenMinter};
    /// let minter = TokenMinter::new(AccessKey::new("k"));
    /// let err = minter
    ///     .mint(&TokenClaims::new("http://h/client/?hub=a", Duration::from_secs(60)).claim("exp", 1))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("`exp`"));
    /// ```
    pub fn mint(&self, claims: &TokenClaims) -> Result<Token, Error> {
        self.mint_at(claims, SystemTime::now())
    }

    fn mint_at(&self, claims: &TokenClaims, now: SystemTime) -> Result<Token, Error> {
        if let Some(reserved) = claims
            .extra
            .keys()
            .find(|name| RESERVED_CLAIMS.contains(&name.as_str()))
        {
            return Err(Error::invalid(
                Operation::MintToken,
                format!("claim `{reserved}`"),
                "is set by the minter and cannot be supplied as an extra claim",
            ));
        }
        let iat = unix_seconds(now);
        let exp = iat.saturating_add(claims.lifetime.as_secs().max(1));
        let mut body = Map::new();
        body.insert("aud".into(), Value::from(claims.audience.clone()));
        body.insert("iat".into(), Value::from(iat));
        body.insert("exp".into(), Value::from(exp));
        if let Some(user) = &claims.user_id {
            body.insert(USER_ID_CLAIM.into(), Value::from(user.clone()));
        }
        for (name, value) in &claims.extra {
            body.insert(name.clone(), value.clone());
        }
        let mut header = Header::new(Algorithm::HS256);
        header.kid = self.key_id.clone();
        let jwt = encode(&header, &body, &self.encoding_key).map_err(|e| {
            // jsonwebtoken errors describe the failure kind, never the key.
            Error::invalid(Operation::MintToken, "token claims", e.to_string())
        })?;
        self.signatures.fetch_add(1, Ordering::Relaxed);
        Ok(Token::new(jwt))
    }

    /// A token for a REST call whose audience is `audience` (a [`ServiceClient`](crate::ServiceClient)
    /// passes `scheme://host` of its endpoint, the API path and `?api-version=...`, as the .NET
    /// SDK signs it), reused until shortly before it expires.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, TokenMinter};
    /// let minter = TokenMinter::new(AccessKey::new("k"));
    /// let a = minter.rest_token("http://h/api/hubs/chat/:send").unwrap();
    /// let b = minter.rest_token("http://h/api/hubs/other/:send").unwrap();
    /// assert!(!a.same(&b));
    /// ```
    pub fn rest_token(&self, audience: &str) -> Result<Token, Error> {
        let now = SystemTime::now();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.get(audience)
            && cached.refresh_at > now
        {
            return Ok(cached.token.clone());
        }
        let token = self.mint_at(&TokenClaims::new(audience, self.rest_lifetime), now)?;
        if cache.len() >= MAX_CACHED_AUDIENCES {
            cache.retain(|_, c| c.refresh_at > now);
            if cache.len() >= MAX_CACHED_AUDIENCES {
                cache.clear();
            }
        }
        let refresh_at = now + self.rest_lifetime.saturating_sub(self.refresh_before);
        cache.insert(
            audience.to_owned(),
            CachedToken {
                token: token.clone(),
                refresh_at,
            },
        );
        Ok(token)
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    /// Decodes `token` with `key`, checking the signature, `exp` and `aud`.
    pub(crate) fn decode_claims(token: &Token, key: &str, audience: &str) -> Map<String, Value> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.leeway = 0;
        decode::<Map<String, Value>>(
            token.expose_secret(),
            &DecodingKey::from_secret(key.as_bytes()),
            &validation,
        )
        .expect("token decodes with the key")
        .claims
    }

    #[test]
    fn rest_token_claims() {
        let minter = TokenMinter::new(AccessKey::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
        let aud = "https://x.service.signalr.net/api/hubs/chat/:send";
        let token = minter.rest_token(aud).unwrap();
        let claims = decode_claims(&token, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", aud);
        let now = unix_seconds(SystemTime::now());
        let iat = claims["iat"].as_u64().unwrap();
        let exp = claims["exp"].as_u64().unwrap();
        assert!(iat <= now && now - iat < 5);
        assert_eq!(exp - iat, 3600);
        assert_eq!(claims["aud"], aud);
        assert!(!claims.contains_key("asrs.s.uid"));
        assert_eq!(claims.len(), 3);
    }

    #[test]
    fn wrong_key_does_not_verify() {
        let minter = TokenMinter::new(AccessKey::new("right"));
        let token = minter.rest_token("http://h/api/health").unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["http://h/api/health"]);
        assert!(decode::<Map<String, Value>>(
            token.expose_secret(),
            &DecodingKey::from_secret(b"wrong"),
            &validation
        )
        .is_err());
    }

    #[test]
    fn client_token_claims() {
        let minter = TokenMinter::new(AccessKey::new("k"));
        let aud = "http://localhost:8888/client/?hub=chat";
        let token = minter
            .mint(
                &TokenClaims::new(aud, Duration::from_secs(120))
                    .user_id("alice")
                    .claim("role", "admin")
                    .claim("level", 3),
            )
            .unwrap();
        let claims = decode_claims(&token, "k", aud);
        assert_eq!(claims["asrs.s.uid"], "alice");
        assert_eq!(claims["role"], "admin");
        assert_eq!(claims["level"], 3);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            120
        );
    }

    #[test]
    fn reserved_claims_refused() {
        let minter = TokenMinter::new(AccessKey::new("k"));
        for name in RESERVED_CLAIMS {
            let err = minter
                .mint(&TokenClaims::new("a", Duration::from_secs(1)).claim(name, "x"))
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert_eq!(minter.signatures(), 0);
    }

    #[test]
    fn cache_per_audience() {
        let minter = TokenMinter::new(AccessKey::new("k"));
        let a1 = minter.rest_token("http://h/api/hubs/a").unwrap();
        let b1 = minter.rest_token("http://h/api/hubs/b").unwrap();
        let a2 = minter.rest_token("http://h/api/hubs/a").unwrap();
        assert!(a1.same(&a2));
        assert!(!a1.same(&b1));
        assert_eq!(minter.signatures(), 2);
    }

    #[test]
    fn expiring_token_is_replaced() {
        let minter = TokenMinter::with_rest_lifetime(
            AccessKey::new("k"),
            Duration::from_secs(60),
            Duration::from_secs(61),
        );
        let t1 = minter.rest_token("http://h/x").unwrap();
        let t2 = minter.rest_token("http://h/x").unwrap();
        assert!(!t1.same(&t2));
        assert_eq!(minter.signatures(), 2);
    }

    #[test]
    fn cache_is_bounded() {
        let minter = TokenMinter::new(AccessKey::new("k"));
        for i in 0..MAX_CACHED_AUDIENCES + 10 {
            minter
                .rest_token(&format!("http://h/api/hubs/a/users/{i}"))
                .unwrap();
        }
        assert!(minter.cache.lock().unwrap().len() <= MAX_CACHED_AUDIENCES);
    }

    #[test]
    fn debug_redacts() {
        let minter = TokenMinter::new(AccessKey::new("supersecretkey"));
        let token = minter.rest_token("http://h/x").unwrap();
        let shown = format!("{minter:?} {token:?} {token}");
        assert!(!shown.contains("supersecretkey"));
        assert!(!shown.contains(token.expose_secret()));
    }
}
