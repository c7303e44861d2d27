//! Microsoft Entra ID tokens the emulator must refuse, each with a reason the client shows:
//! a wrong audience, an expired token, an untrusted issuer, a revoked signing key; and no
//! secret (Entra token, handed-out key, client secret) in any `Debug`, log line or error.
#![cfg(all(feature = "emulator", feature = "listener", feature = "identity"))]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_signalr_rest::emulator::{Emulator, EmulatorHandle, EntraIssuer, EntraIssuerCredential};
use azure_signalr_rest::listener::Listener;
use azure_signalr_rest::{
    ApiVersion, ConnectionString, ErrorKind, NegotiateOptions, RetryPolicy, ServiceClient,
};
use serde_json::Value;

/// Hands out one given token, whatever it is.
#[derive(Debug)]
struct Fixed(String);

#[async_trait::async_trait]
impl TokenCredential for Fixed {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            self.0.clone(),
            time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
        ))
    }
}

async fn emulator(issuer: &EntraIssuer) -> EmulatorHandle {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .trust_entra(issuer.trust())
        .start()
        .await
        .unwrap()
}

fn client(emulator: &EmulatorHandle, credential: Arc<dyn TokenCredential>) -> ServiceClient {
    ServiceClient::builder()
        .endpoint(emulator.endpoint())
        .credential(credential)
        .api_version(ApiVersion::V2022_06_01)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

/// The 401 reason a REST call with `token` gets, through the client.
async fn refused(emulator: &EmulatorHandle, token: String) -> String {
    let client = client(emulator, Arc::new(Fixed(token)));
    let message = azure_signalr_rest::Message::new("m", (1,)).unwrap();
    // A POST: its 401 has a body with the reason (a HEAD answer has none).
    let err = client
        .hub("chat")
        .send_to_user("u", &message)
        .await
        .expect_err("expected 401");
    match err.into_kind() {
        ErrorKind::Unauthorized { message, .. } => message,
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_entra_tokens_are_refused_with_a_reason() {
    let issuer = EntraIssuer::new();
    let emulator = emulator(&issuer).await;
    let hour = Duration::from_secs(3600);

    // The good token passes (so the refusals below are about what was changed).
    let good = client(&emulator, Arc::new(Fixed(issuer.token(hour))));
    assert!(!good.hub("chat").user_exists("u").await.unwrap());

    let mut claims = issuer.claims(hour);
    claims.insert("aud".into(), "https://management.azure.com".into());
    let reason = refused(&emulator, issuer.sign(&claims)).await;
    assert!(
        reason.contains("audience must be https://signalr.azure.com"),
        "{reason}"
    );

    let mut claims = issuer.claims(hour);
    let past = jsonwebtoken::get_current_timestamp() - 2 * 3600;
    for name in ["iat", "nbf"] {
        claims.insert(name.into(), past.into());
    }
    claims.insert("exp".into(), (past + 3600).into());
    let reason = refused(&emulator, issuer.sign(&claims)).await;
    assert!(reason.contains("expired"), "{reason}");

    let stranger = EntraIssuer::new();
    let reason = refused(&emulator, stranger.token(hour)).await;
    assert!(
        reason.contains("not signed by the trusted Entra ID issuer"),
        "{reason}"
    );

    let mut claims = issuer.claims(hour);
    claims.insert("iss".into(), stranger.issuer().into());
    let reason = refused(&emulator, issuer.sign(&claims)).await;
    assert!(reason.contains("issuer is not trusted"), "{reason}");

    // An Entra token is not a client token.
    let err = Listener::builder()
        .negotiate_response(azure_signalr_rest::NegotiateResponse {
            url: format!("{}/client/?hub=chat", emulator.endpoint()),
            access_token: azure_signalr_rest::Token::new(issuer.token(hour)),
        })
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");

    // The signing key is handed out for a valid Entra token only.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/auth/accessKey", emulator.endpoint());
    let answer = http
        .get(&url)
        .bearer_auth(stranger.token(hour))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let answer = http.post(&url).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    // Negotiate says why it has no signing key, without quoting the token.
    let stranger_client = client(&emulator, Arc::new(Fixed(stranger.token(hour))));
    match stranger_client
        .hub("chat")
        .negotiate(NegotiateOptions::default())
        .await
        .map_err(|e| e.into_kind())
    {
        Err(ErrorKind::Credential { message, .. }) => {
            assert!(
                message.contains("did not accept the Entra ID token"),
                "{message}"
            );
            assert!(message.contains("/api/v1/auth/accessKey"), "{message}");
            assert!(!message.contains("eyJ"), "{message}");
        }
        other => panic!("expected a credential error, got {other:?}"),
    }
    emulator.shutdown().await;

    // An emulator trusting no issuer says so.
    let plain = Emulator::builder()
        .bind("127.0.0.1:0")
        .start()
        .await
        .unwrap();
    let reason = refused(&plain, issuer.token(hour)).await;
    assert!(reason.contains("trusted only when"), "{reason}");
    plain.shutdown().await;
}

#[tokio::test]
async fn a_rotated_signing_key_stops_working() {
    let issuer = Arc::new(EntraIssuer::new());
    let emulator = emulator(&issuer).await;
    let credential = EntraIssuerCredential::new(issuer.clone(), Duration::from_secs(3600));
    let hub = client(&emulator, credential.clone()).hub("chat");
    let old = hub
        .negotiate(NegotiateOptions::default().user_id("u"))
        .await
        .unwrap();
    let new_kid = emulator.rotate_entra_key().expect("Entra trusted");

    let err = Listener::builder()
        .negotiate_response(old)
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && err.contains("revoked"), "{err}");

    // A client starting now gets the new key, and its token works.
    let hub = client(&emulator, credential).hub("chat");
    let fresh = hub
        .negotiate(NegotiateOptions::default().user_id("u"))
        .await
        .unwrap();
    let header = fresh
        .access_token
        .expose_secret()
        .split('.')
        .next()
        .unwrap();
    use base64::Engine as _;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], new_kid);
    let listener = Listener::builder()
        .negotiate_response(fresh)
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .expect("the new key's token is accepted");
    listener.close().await;
    emulator.shutdown().await;
}

/// Collects every log line of the process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_in_debug_logs_or_errors() {
    let logs = Captured::default();
    let writer = logs.clone();
    // This crate's logs and the Azure SDK's, at every level. (tungstenite's own TRACE log
    // prints WebSocket request headers as they are; an application filters or redacts it.)
    tracing_subscriber::fmt()
        .with_env_filter("azure_signalr_rest=trace,azure_core=trace,azure_identity=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let issuer = Arc::new(EntraIssuer::new());
    let emulator = emulator(&issuer).await;
    let credential = EntraIssuerCredential::new(issuer.clone(), Duration::from_secs(3600));
    let client = client(&emulator, credential);
    let hub = client.hub("chat");
    let negotiated = hub
        .negotiate(NegotiateOptions::default().user_id("u"))
        .await
        .unwrap();
    let mut listener = Listener::builder()
        .negotiate_response(negotiated.clone())
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .unwrap();
    hub.send_to_user("u", &azure_signalr_rest::Message::new("m", (1,)).unwrap())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), listener.next())
        .await
        .unwrap();
    let entra_token = issuer.token(Duration::from_secs(600));
    let handed_out: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/accessKey", emulator.endpoint()))
        .bearer_auth(&entra_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = handed_out["AccessKey"].as_str().unwrap().to_owned();
    let refusal = refused(&emulator, EntraIssuer::new().token(Duration::from_secs(60))).await;

    let cs: ConnectionString =
        "Endpoint=https://h;AuthType=azure.app;ClientId=c;TenantId=t;ClientSecret=hush-hush-secret"
            .parse()
            .unwrap();
    let app_client = ServiceClient::builder()
        .connection_string(&cs)
        .build()
        .unwrap();
    let bad_cs = "Endpoint=https://h;AuthType=azure.app;ClientId=c;ClientSecret=hush-hush-secret"
        .parse::<ConnectionString>()
        .map(|_| ())
        .unwrap_err()
        .to_string();

    let shown = format!(
        "{client:?} {hub:?} {negotiated:?} {issuer:?} {:?} {cs:?} {cs} {app_client:?} {bad_cs} {refusal} {:?}",
        issuer.trust(),
        cs.credential(),
    );
    listener.close().await;
    emulator.shutdown().await;
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("handed out a signing key"),
        "the log was captured"
    );
    for text in [&shown, &logs] {
        // Every JWT starts with the base64 of `{"`.
        assert!(!text.contains("eyJ"), "a token leaked: {text}");
        assert!(!text.contains(&key), "the signing key leaked: {text}");
        assert!(!text.contains("hush-hush-secret"), "{text}");
    }
}
