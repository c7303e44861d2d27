//! Microsoft Entra ID, offline: the emulator can trust an Entra-like issuer (an RSA key set
//! given at start), accept its RS256 tokens for REST calls, hand out signing keys for them at
//! `/api/v1/auth/accessKey` and verify client tokens signed with those keys (header `kid`).
//!
//! What the service checks, and so the emulator: an Entra token's `aud` is the SignalR resource
//! (`https://signalr.azure.com`, what the scope `https://signalr.azure.com/.default` yields),
//! its `iss` the trusted issuer, its signature one of the issuer's keys (by `kid`), and
//! `exp`/`nbf` with [`CLOCK_SKEW`](super::CLOCK_SKEW). Roles are not modelled: any identity the issuer vouches
//! for may call (on Azure it needs `SignalR REST API Owner` or `SignalR App Server`).
//! [`EntraIssuer`] mints such tokens for tests.

use std::collections::{HashMap, HashSet};
use std::fmt;
#[cfg(feature = "identity")]
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore as _;
use serde_json::{json, Map, Value};

use super::error::EmulatorError;

/// The `aud` of an Entra token for Azure SignalR Service.
pub const SIGNALR_AUDIENCE: &str = "https://signalr.azure.com";

/// Keys handed out for Entra identities: the current one, the others still valid, and the
/// revoked ids (so their tokens get a clear reason).
#[derive(Default)]
struct HandedOut {
    current: Option<String>,
    valid: HashMap<String, String>,
    revoked: HashSet<String>,
}

/// An Entra-like issuer the emulator trusts: its name (`iss`) and RSA public keys by `kid`.
/// Build one from a JWKS document ([`EntraTrust::from_jwks`]) or from an [`EntraIssuer`].
pub struct EntraTrust {
    issuer: String,
    keys: HashMap<String, DecodingKey>,
    handed_out: Mutex<HandedOut>,
}

impl fmt::Debug for EntraTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("EntraTrust")
            .field("issuer", &self.issuer)
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EntraTrust {
    /// Trusts tokens whose `iss` is `issuer`, signed RS256 by one of the RSA keys of `jwks`
    /// (`{"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...}]}`, as Entra ID publishes).
    ///
    /// ```
    /// use azure_signalr_rest::emulator::EntraTrust;
    /// let err = EntraTrust::from_jwks("https://issuer", &serde_json::json!({"keys": []})).unwrap_err();
    /// assert!(err.to_string().contains("RSA key"));
    /// ```
    pub fn from_jwks(issuer: impl Into<String>, jwks: &Value) -> Result<EntraTrust, EmulatorError> {
        let bad = |why: &str| EmulatorError::Config(format!("Entra ID key set: {why}"));
        let mut keys = HashMap::new();
        for key in jwks["keys"]
            .as_array()
            .ok_or_else(|| bad("no `keys` array"))?
        {
            let text = |name: &str| key[name].as_str();
            let (Some("RSA"), Some(kid), Some(n), Some(e)) =
                (text("kty"), text("kid"), text("n"), text("e"))
            else {
                continue;
            };
            let decoding = DecodingKey::from_rsa_components(n, e)
                .map_err(|_| bad("an RSA key's `n` or `e` is not base64url"))?;
            keys.insert(kid.to_owned(), decoding);
        }
        if keys.is_empty() {
            return Err(bad("no RSA key with `kid`, `n` and `e`"));
        }
        Ok(EntraTrust {
            issuer: issuer.into(),
            keys,
            handed_out: Mutex::default(),
        })
    }

    /// Checks an Entra token (RS256); the error is a short reason fit for a 401 body.
    pub(crate) fn verify_entra(&self, token: &str, leeway: Duration) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        let kid = header
            .kid
            .ok_or("an Entra ID token must name its signing key (kid)")?;
        let key = self.keys.get(&kid).ok_or(
            "the token is not signed by the trusted Entra ID issuer (unknown signing key)",
        )?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[SIGNALR_AUDIENCE, "https://signalr.azure.com/"]);
        validation.leeway = leeway.as_secs();
        jsonwebtoken::decode::<Value>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => "Entra ID token expired".to_string(),
                    ErrorKind::ImmatureSignature => "Entra ID token not valid yet (nbf)".into(),
                    ErrorKind::InvalidSignature => "invalid Entra ID token signature".into(),
                    ErrorKind::InvalidIssuer => "Entra ID token issuer is not trusted".into(),
                    ErrorKind::InvalidAudience => format!(
                        "Entra ID token audience must be {SIGNALR_AUDIENCE} (scope \
                         {SIGNALR_AUDIENCE}/.default)"
                    ),
                    ErrorKind::MissingRequiredClaim(c) => format!("token lacks the '{c}' claim"),
                    _ => "malformed Entra ID token".into(),
                }
            })
    }

    /// The current handed-out key, made on first use.
    pub(crate) fn current_key(&self) -> (String, String) {
        let mut handed = lock(&self.handed_out);
        if let Some(kid) = &handed.current {
            return (kid.clone(), handed.valid[kid].clone());
        }
        let (kid, key) = (random_text(16), random_text(32));
        handed.valid.insert(kid.clone(), key.clone());
        handed.current = Some(kid.clone());
        (kid, key)
    }
}

fn random_text(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// What the emulator's token check does with a token, given the Entra trust.
pub(crate) enum Route {
    /// A valid Entra token for a REST call; its user (`oid`, else `sub`) if any.
    Entra(Option<String>),
    /// Signed with a handed-out key: check it as usual with this key.
    HandedOutKey(String),
    /// Not an Entra matter: check it with the access key.
    AccessKey,
}

/// Sorts a token out by its header: RS256 is an Entra token (REST calls only); HS* with the
/// `kid` of a handed-out key is checked with that key, a revoked `kid` refused; anything else
/// (the .NET SDK puts a `kid` in access-key tokens too) goes to the access key.
pub(crate) fn route(
    trust: Option<&EntraTrust>,
    token: &str,
    alg: &str,
    rest: bool,
    leeway: Duration,
) -> Result<Route, String> {
    if alg == "RS256" {
        let trust = trust.ok_or(
            "token must be signed with HS256, HS384 or HS512; RS256 (Entra ID) tokens are \
             trusted only when the emulator is started with an Entra ID issuer",
        )?;
        if !rest {
            return Err(
                "an Entra ID token is for REST calls; a client connects with the token \
                        negotiate gives it"
                    .into(),
            );
        }
        let claims = trust.verify_entra(token, leeway)?;
        let user = ["oid", "sub"]
            .into_iter()
            .find_map(|c| claims[c].as_str().map(str::to_owned));
        return Ok(Route::Entra(user));
    }
    let Some(trust) = trust else {
        return Ok(Route::AccessKey);
    };
    let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
        return Ok(Route::AccessKey);
    };
    let handed = lock(&trust.handed_out);
    if let Some(key) = handed.valid.get(&kid) {
        return Ok(Route::HandedOutKey(key.clone()));
    }
    if handed.revoked.contains(&kid) {
        return Err(
            "the token's signing key (kid) has been revoked; get a new one from \
                    /api/v1/auth/accessKey"
                .into(),
        );
    }
    Ok(Route::AccessKey)
}

impl EntraTrust {
    /// Hands out a new signing key from now on and revokes every earlier one; returns the
    /// new key's `kid`.
    pub(crate) fn rotate(&self) -> String {
        {
            let mut handed = lock(&self.handed_out);
            let old: Vec<String> = handed.valid.drain().map(|(kid, _)| kid).collect();
            handed.revoked.extend(old);
            handed.current = None;
        }
        self.current_key().0
    }
}

/// A stand-in for Microsoft Entra ID in tests: an RSA key pair, an issuer name, and RS256
/// tokens for the SignalR audience. [`EntraIssuer::trust`] is what the emulator is started with.
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::emulator::EntraIssuer;
/// let issuer = EntraIssuer::new();
/// let token = issuer.token(Duration::from_secs(600));
/// assert_eq!(token.split('.').count(), 3);
/// assert!(!format!("{issuer:?}").contains("BEGIN"));
/// assert_eq!(issuer.jwks()["keys"][0]["kty"], "RSA");
/// ```
pub struct EntraIssuer {
    key: aws_lc_rs::signature::RsaKeyPair,
    kid: String,
    issuer: String,
    tenant: String,
}

impl fmt::Debug for EntraIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Default for EntraIssuer {
    fn default() -> Self {
        EntraIssuer::new()
    }
}

impl EntraIssuer {
    /// A new issuer with a fresh 2048-bit RSA key and a random tenant, named as Entra ID v1
    /// tokens name theirs (`https://sts.windows.net/<tenant>/`).
    pub fn new() -> EntraIssuer {
        let key = aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("RSA key generation");
        let tenant = random_text(12);
        EntraIssuer {
            key,
            kid: random_text(8),
            issuer: format!("https://sts.windows.net/{tenant}/"),
            tenant,
        }
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key set, as Entra ID publishes it.
    pub fn jwks(&self) -> Value {
        use aws_lc_rs::signature::KeyPair as _;
        let public = self.key.public_key();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        }]})
    }

    /// What the emulator trusts to accept this issuer's tokens.
    pub fn trust(&self) -> EntraTrust {
        EntraTrust::from_jwks(self.issuer.clone(), &self.jwks()).expect("own key set is valid")
    }

    /// The claims of a token for the SignalR audience, valid `lifetime` from now: `aud`,
    /// `iss`, `iat`, `nbf`, `exp`, `tid`, `oid` (an identity of this issuer). Change them and
    /// sign with [`EntraIssuer::sign`] for a token that should be refused.
    pub fn claims(&self, lifetime: Duration) -> Map<String, Value> {
        let now = jsonwebtoken::get_current_timestamp();
        let json = json!({
            "aud": SIGNALR_AUDIENCE,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime.as_secs(),
            "tid": self.tenant,
            "oid": "00000000-0000-0000-0000-0000000a11ce",
        });
        match json {
            Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        }
    }

    /// A token for the SignalR audience, valid `lifetime` from now.
    pub fn token(&self, lifetime: Duration) -> String {
        self.sign(&self.claims(lifetime))
    }

    /// Signs `claims` RS256 with this issuer's key (header `kid`).
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(Value::Object(claims.clone()).to_string().as_bytes())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{signing_input}.{}", b64(&signature))
    }
}

/// An `azure_core` [`TokenCredential`](azure_core::credentials::TokenCredential) backed by an
/// [`EntraIssuer`], so tests sign a client in through the Azure SDK's own trait. A token's
/// `aud` is the scope without `/.default`, as Entra ID does it: a client asking for the wrong
/// scope gets a token the emulator refuses.
#[cfg(feature = "identity")]
#[derive(Debug)]
pub struct EntraIssuerCredential {
    issuer: Arc<EntraIssuer>,
    lifetime: Duration,
    calls: std::sync::atomic::AtomicUsize,
}

#[cfg(feature = "identity")]
impl EntraIssuerCredential {
    /// Tokens of `issuer`, each valid `lifetime`.
    pub fn new(issuer: Arc<EntraIssuer>, lifetime: Duration) -> Arc<EntraIssuerCredential> {
        Arc::new(EntraIssuerCredential {
            issuer,
            lifetime,
            calls: Default::default(),
        })
    }

    /// How many tokens were asked for.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(feature = "identity")]
#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for EntraIssuerCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let [scope] = scopes else {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                "exactly one scope is supported",
            ));
        };
        let mut claims = self.issuer.claims(self.lifetime);
        let audience = scope.strip_suffix("/.default").unwrap_or(scope);
        claims.insert("aud".into(), Value::from(audience));
        let expires_on = time::OffsetDateTime::now_utc() + self.lifetime;
        Ok(azure_core::credentials::AccessToken::new(
            self.issuer.sign(&claims),
            expires_on,
        ))
    }
}
