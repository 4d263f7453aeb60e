//! What the handler says in its log.
#![cfg(feature = "cli")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tower_tus::store::MemoryStore;
use tower_tus::{Config, StoreComposer, UploadHandler};

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

fn log_of(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn a_handler_without_a_locker_says_it_locks_in_memory() {
    let log = log_of(|| {
        let mut composer = StoreComposer::new();
        MemoryStore::new().use_in(&mut composer);
        UploadHandler::new(Config::new(composer));
    });
    assert!(
        log.contains("locked in memory, for this process only"),
        "{log}"
    );
    let log = log_of(|| {
        UploadHandler::new(common::memory_config());
    });
    assert!(!log.contains("locked in memory"), "{log}");
}
