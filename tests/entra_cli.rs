//! `asrs` takes the Entra ID connection strings of the library: `AuthType=azure` signs in with
//! the developer's tools (Azure CLI, then Azure Developer CLI), and a connection string missing
//! a key is refused naming it, without echoing the secret.
#![cfg(all(feature = "cli", feature = "identity"))]

mod cli_support;

use cli_support::{asrs, run};

#[test]
fn azure_auth_type_uses_the_developer_sign_in_chain() {
    // No `az` or `azd` to be found: the error says what was tried.
    let empty = std::env::temp_dir().join(format!("asrs-entra-cli-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let mut command = asrs();
    command.env("PATH", &empty);
    let out = run(
        command,
        &[
            "-c",
            "Endpoint=http://127.0.0.1:9;AuthType=azure",
            "-h",
            "chat",
            "send",
            "user",
            "alice",
        ],
    );
    std::fs::remove_dir_all(&empty).unwrap();
    assert!(!out.status.success());
    assert!(out.stderr.contains("AzureCliCredential"), "{}", out.stderr);
    assert!(out.stderr.contains("az not found"), "{}", out.stderr);
}

#[test]
fn a_missing_key_is_named_and_the_secret_not_echoed() {
    let out = run(
        asrs(),
        &[
            "-c",
            "Endpoint=http://127.0.0.1:9;AuthType=azure.app;ClientId=c;ClientSecret=hush-hush",
            "-h",
            "chat",
            "send",
            "user",
            "alice",
        ],
    );
    assert!(!out.status.success());
    assert!(out.stderr.contains("`TenantId`"), "{}", out.stderr);
    assert!(!out.stderr.contains("hush-hush"), "{}", out.stderr);
}
