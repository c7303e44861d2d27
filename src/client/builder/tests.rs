//! Building clients: ports, endpoints, credentials, validation.
use super::*;

fn build(cs: &str, version: ApiVersion) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(&cs.parse().unwrap())
        .api_version(version)
        .build()
        .unwrap()
}

#[test]
fn preview_port_only_without_explicit_port() {
    let c = build(
        "Endpoint=https://h.example;AccessKey=k",
        ApiVersion::V1Preview,
    );
    assert_eq!(c.rest_endpoint(), "https://h.example:5002");
    assert_eq!(c.client_endpoint(), "https://h.example");
    let c = build(
        "Endpoint=https://h.example:7000;AccessKey=k",
        ApiVersion::V1Preview,
    );
    assert_eq!(c.rest_endpoint(), "https://h.example:7000");
    for version in ApiVersion::ALL {
        let c = build("Endpoint=http://localhost;Port=8888;AccessKey=k", version);
        assert_eq!(c.rest_endpoint(), "http://localhost:8888", "{version}");
        assert_eq!(c.client_endpoint(), "http://localhost:8888", "{version}");
    }
    let c = build("Endpoint=https://h.example;AccessKey=k", ApiVersion::V1);
    assert_eq!(c.rest_endpoint(), "https://h.example");
}

#[test]
fn client_and_server_endpoints() {
    let c = build(
        "Endpoint=https://h.example;AccessKey=k;ClientEndpoint=https://proxy.example/sr/;ServerEndpoint=http://10.0.0.1:81",
        ApiVersion::V1,
    );
    assert_eq!(c.rest_endpoint(), "http://10.0.0.1:81");
    assert_eq!(c.client_endpoint(), "https://proxy.example/sr");
}

#[test]
fn entra_id_without_the_identity_feature_says_so() {
    let cs: ConnectionString = "Endpoint=https://h;AuthType=azure.msi".parse().unwrap();
    let built = ServiceClient::builder().connection_string(&cs).build();
    if cfg!(feature = "identity") {
        assert!(built.unwrap().token_minter().is_none());
    } else {
        let err = built.unwrap_err().to_string();
        assert!(
            err.contains("azure.msi") && err.contains("identity"),
            "{err}"
        );
    }
}

#[test]
fn bad_application_refused() {
    let err = ServiceClient::builder()
        .endpoint("https://h")
        .access_key(AccessKey::new("k"))
        .application("no spaces")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("application name"), "{err}");
}

#[test]
fn debug_shows_no_key() {
    let c = build("Endpoint=https://h;AccessKey=topsecretkey", ApiVersion::V1);
    assert!(!format!("{c:?}").contains("topsecretkey"));
}
