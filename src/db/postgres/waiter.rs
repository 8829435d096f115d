//! How a synchronous statement of this backend waits for the driver: on a thread of the
//! shared blocking pool, whose connections the runtime's workers drive; or on a callback
//! writer's own thread, whose runtime drives its one connection while the thread waits, so a
//! round trip to the server wakes one thread instead of three.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};

/// Where a transaction's waits run; see the module's note.
#[derive(Clone)]
pub enum Waiter<'r> {
    /// A blocking-pool thread: the shared runtime's workers drive the connection.
    Shared(Handle),
    /// A thread that owns `Runtime` (current-thread) and the connection spawned on it.
    Own(&'r Runtime),
}

impl Waiter<'_> {
    /// Blocks the thread until `work` is done. Never call it from async code.
    pub fn block_on<F: Future>(&self, work: F) -> F::Output {
        match self {
            Self::Shared(handle) => handle.block_on(work),
            Self::Own(runtime) => runtime.block_on(work),
        }
    }
}
