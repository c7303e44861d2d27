//! Command-line flags of the load generators: `--flag value` pairs, read by hand (a bench
//! binary also gets flags of `cargo bench`'s own, such as `--bench`, which each ignores).

/// The emulator's well-known key (the same default as `emulator::DEFAULT_ACCESS_KEY`, which is
/// only compiled with the `emulator` feature).
pub(crate) const EMULATOR_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

/// Calls `on(flag, value)` for each argument; `value()` takes the next argument as the flag's
/// value, and panics, naming the flag, when there is none.
pub(crate) fn each(mut on: impl FnMut(&str, &mut dyn FnMut() -> String)) {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        on(&arg, &mut value);
    }
}

/// The flags every load generator takes: the access key, and how long each run warms up and
/// is measured.
pub(crate) struct Common {
    pub(crate) key: String,
    /// Seconds measured.
    pub(crate) duration: f64,
    /// Seconds of warm-up before the measured part.
    pub(crate) warmup: f64,
}

impl Common {
    /// The emulator's key, 10 s measured, after `warmup` seconds.
    pub(crate) fn new(warmup: f64) -> Common {
        Common {
            key: EMULATOR_KEY.into(),
            duration: 10.0,
            warmup,
        }
    }

    /// Takes `arg` (and its value) when it is one of these flags; says whether it was.
    pub(crate) fn take(&mut self, arg: &str, value: &mut dyn FnMut() -> String) -> bool {
        match arg {
            "--key" => self.key = value(),
            "--duration" => self.duration = value().parse().expect("--duration SECONDS"),
            "--warmup" => self.warmup = value().parse().expect("--warmup SECONDS"),
            _ => return false,
        }
        true
    }
}

/// Runs `run` to completion on a multi-threaded runtime with every driver enabled.
pub(crate) fn block_on<F: std::future::Future>(run: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run)
}
