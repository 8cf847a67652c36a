//! A policy source that holds the first admission mid-decision until the test releases it, for
//! tests about what the server does while a decision takes long.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openlit_operator::inject::Policy;
use openlit_operator::webhook::PolicySource;
use tokio::sync::oneshot;

use super::chat_policy;

/// Holds the first admission until released (at most 15 s), and records whether it was.
pub struct Gate {
    entered: Mutex<Option<oneshot::Sender<()>>>,
    release: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    released: AtomicBool,
}

impl Gate {
    /// The gate, a receiver told when the first admission is held, and the sender releasing it.
    pub fn new() -> (
        Arc<Gate>,
        oneshot::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (entered_tx, entered) = oneshot::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        let gate = Arc::new(Gate {
            entered: Mutex::new(Some(entered_tx)),
            release: Mutex::new(Some(release_rx)),
            released: AtomicBool::new(false),
        });
        (gate, entered, release)
    }

    /// Whether the held admission went on because it was released (not because it timed out).
    pub fn was_released(&self) -> bool {
        self.released.load(Ordering::SeqCst)
    }
}

impl PolicySource for Gate {
    fn candidates(&self, _: &str, _: &str) -> Vec<Arc<Policy>> {
        let entered = self.entered.lock().unwrap().take();
        if let Some(entered) = entered {
            let _ = entered.send(());
            let release = self.release.lock().unwrap().take();
            if let Some(release) = release {
                let released = release.recv_timeout(Duration::from_secs(15)).is_ok();
                self.released.store(released, Ordering::SeqCst);
            }
        }
        vec![chat_policy()]
    }
}
