//! The emulator as a process of its own, for the sending and fan-out benchmarks: the load
//! generators (ours, the Python and Node peers, wrk) all talk to it over loopback, and its
//! resident memory is read from /proc without counting theirs.
//!
//! `emulator_server [--port N] [--threads N]`: prints `listening <addr>` once it accepts
//! connections, then serves until standard input closes (so it never outlives the harness).

use azure_signalr_rest::emulator::Emulator;
use tokio::io::AsyncReadExt;

fn main() {
    let mut port = 0u16;
    let mut threads = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|v| v.parse().ok()).expect("--port N"),
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--threads N")
            }
            // `cargo bench` appends `--bench`.
            _ => {}
        }
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let emulator = Emulator::builder()
            .bind(format!("127.0.0.1:{port}"))
            // Benchmarks deliver millions of messages and nobody inspects them: record off.
            // Pings and client timeout keep their defaults (15 s, 30 s), as the listener expects.
            .delivery_record(0)
            // The idle-memory run holds 10,000 connections (the default cap) plus stragglers of
            // the phase before; stay below this machine's descriptor limit (20,000).
            .max_connections(16_000)
            .start()
            .await
            .expect("emulator starts");
        println!("listening {}", emulator.local_addr());
        // Stop when the harness closes our standard input (or dies).
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        emulator.shutdown().await;
    });
}
