//! Token costs: signing a fresh REST token, and the cached path for a repeated audience (what
//! every REST call after the first pays).

use std::hint::black_box;
use std::time::Duration;

use azure_signalr_rest::{AccessKey, TokenClaims, TokenMinter};
use criterion::{criterion_group, criterion_main, Criterion};

const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
const AUDIENCE: &str = "http://127.0.0.1:8888/api/hubs/bench/:send";

fn tokens(c: &mut Criterion) {
    let minter = TokenMinter::new(AccessKey::new(KEY));
    let claims = TokenClaims::new(AUDIENCE, TokenMinter::REST_TOKEN_LIFETIME);
    let mut group = c.benchmark_group("tokens");
    group.bench_function("fresh_mint", |b| {
        b.iter(|| black_box(minter.mint(black_box(&claims)).unwrap()))
    });
    minter.rest_token(AUDIENCE).unwrap();
    group.bench_function("cached_rest_token", |b| {
        b.iter(|| black_box(minter.rest_token(black_box(AUDIENCE)).unwrap()))
    });
    // The cache holds many audiences in a long-lived client (one per user/group URL).
    let busy = TokenMinter::new(AccessKey::new(KEY));
    for i in 0..1000 {
        busy.rest_token(&format!(
            "http://127.0.0.1:8888/api/hubs/bench/users/u{i}/:send"
        ))
        .unwrap();
    }
    group.bench_function("cached_rest_token_1000_audiences", |b| {
        b.iter(|| {
            black_box(
                busy.rest_token(black_box(
                    "http://127.0.0.1:8888/api/hubs/bench/users/u500/:send",
                ))
                .unwrap(),
            )
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // `cargo xtask bench` shortens these with --duration; criterion's own flags also apply.
    let seconds: f64 = std::env::var("ASRS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    Criterion::default()
        .warm_up_time(Duration::from_secs_f64((seconds / 3.0).max(0.2)))
        .measurement_time(Duration::from_secs_f64(seconds.max(0.5)))
}

criterion_group! { name = benches; config = config(); targets = tokens }
criterion_main!(benches);
