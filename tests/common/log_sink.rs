//! Everything a test binary logs, at every level down to TRACE, kept in memory so a test can
//! search it (for secrets that must not be there, requests that must).
//!
//! Included with `#[path]` rather than through `common`, so binaries built without the
//! emulator can use it too.

use std::sync::{Arc, Mutex, OnceLock};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
pub(crate) struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    /// What has been logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The one subscriber of this test binary, at TRACE, writing to a shared sink. Global and set
/// by every test before it does anything: a scoped subscriber (`set_default`) saw no events at
/// all when another test had touched the same callsites on its own thread first, because
/// tracing caches a callsite's interest for the whole process; and an emulator's sessions log
/// from other threads than the test's.
pub(crate) fn trace_logs() -> &'static LogSink {
    static SINK: OnceLock<LogSink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = LogSink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        sink
    })
}
