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
