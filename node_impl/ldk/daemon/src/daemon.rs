//! What every RPC method shares: the ldk-node `Node`, our durable maps, what the event loop
//! learned, and a way to wait until it learns more.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ldk_node::Node;
use serde_json::Value;

use crate::jsonrpc::RpcError;
use crate::store::DurableMap;

/// How an open we started ended up, as the event loop saw it.
#[derive(Debug, Clone)]
pub enum OpenOutcome {
    /// The funding transaction was broadcast: its txid and output index.
    Pending {
        txid: String,
        outnum: u32,
        channel_id: String,
    },
    /// The channel closed before its funding went out; the reason.
    Failed(String),
}

pub struct Daemon {
    pub node: Node,
    /// label -> the invoice we made (ldk-node has no labels)
    pub invoices: Mutex<DurableMap>,
    /// channel id -> the channel's last known details, once it closed
    pub closed: Mutex<DurableMap>,
    /// channel id -> its last known details while open (to describe it once it closes)
    pub open_channels: Mutex<HashMap<String, Value>>,
    /// user channel id -> how an open we started went
    pub opens: Mutex<HashMap<u128, OpenOutcome>>,
    /// payment hash -> why the payment failed (the reason comes only with the event)
    pub failures: Mutex<HashMap<String, String>>,
    stopping: AtomicBool,
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Daemon {
    pub fn new(node: Node, dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            node,
            invoices: Mutex::new(DurableMap::open(dir.join("invoices.json"))?),
            closed: Mutex::new(DurableMap::open(dir.join("closed_channels.json"))?),
            open_channels: Mutex::new(HashMap::new()),
            opens: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            generation: Mutex::new(0),
            changed: Condvar::new(),
        })
    }

    /// Wake every `wait_until`: something they may be waiting for changed.
    pub fn notify(&self) {
        *lock(&self.generation) += 1;
        self.changed.notify_all();
    }

    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Call `check` whenever something changes until it gives a value or `timeout` passes
    /// (None). State ldk-node changes without an event is seen within a second.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut() -> Result<Option<T>, RpcError>,
    ) -> Result<Option<T>, RpcError> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = *lock(&self.generation);
            if let Some(value) = check()? {
                return Ok(Some(value));
            }
            let now = Instant::now();
            if now >= deadline || self.is_stopping() {
                return Ok(None);
            }
            let guard = lock(&self.generation);
            if *guard == seen {
                let wait = (deadline - now).min(Duration::from_secs(1));
                drop(self.changed.wait_timeout(guard, wait));
            }
        }
    }
}

/// Lock `mutex`, recovering the data if a panicking thread poisoned it (every writer leaves
/// the data consistent before it can panic).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
