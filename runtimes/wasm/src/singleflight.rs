//! Results kept by key, computed at most once at a time: the first caller
//! for a key starts the work, callers arriving while it runs wait for the
//! same result. Compiling a component takes seconds of CPU, and a
//! Deployment's pods land on a node together; without this each of N
//! concurrent creates compiled the same image N times (and raced on
//! wasmtime's on-disk cache files).
//!
//! Successes are kept until [`SingleFlight::remove`]; failures reach every
//! caller that was waiting and are then dropped, so the next call retries.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

/// What waiting callers receive: `None` until the work finishes.
type Outcome<V> = Option<Result<V, String>>;

enum Slot<V> {
    Ready(V),
    Running(watch::Receiver<Outcome<V>>),
}

/// A map from key to value where each missing value is computed by one
/// task however many callers ask for it at once.
pub(crate) struct SingleFlight<V> {
    slots: Mutex<HashMap<String, Slot<V>>>,
}

impl<V: Clone + Send + Sync + 'static> SingleFlight<V> {
    pub(crate) fn new() -> Self {
        SingleFlight {
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot<V>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value for `key` if it was computed before.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        match self.lock().get(key) {
            Some(Slot::Ready(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Stores a value computed elsewhere (replacing a running computation's
    /// place: its result is then only handed to its waiters).
    pub(crate) fn insert(&self, key: &str, value: V) {
        self.lock().insert(key.to_owned(), Slot::Ready(value));
    }

    /// Forgets `key`. A computation still running for it finishes for its
    /// waiters but is not kept.
    pub(crate) fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The value for `key`, from the map, from a computation already
    /// running, or by starting `work` as a task of its own. The task runs to
    /// the end even if every caller gives up waiting, so a cancelled caller
    /// never leaves the others stuck, and its result is kept for the next.
    pub(crate) async fn get_or_run<F, Fut>(&self, key: &str, work: F) -> Result<V, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, String>> + Send + 'static,
    {
        let mut work = Some(work);
        loop {
            let mut rx = {
                let mut slots = self.lock();
                match slots.get(key) {
                    Some(Slot::Ready(v)) => return Ok(v.clone()),
                    Some(Slot::Running(rx)) => rx.clone(),
                    None => {
                        // Only the first pass can start the work; a caller
                        // whose computation vanished (panicked) and finds
                        // the key free again reports that rather than loop.
                        let Some(work) = work.take() else {
                            return Err(format!("the computation for {key} did not finish"));
                        };
                        let (tx, rx) = watch::channel(None);
                        let fut = work();
                        tokio::spawn(async move {
                            let outcome = fut.await;
                            // No receiver left is fine: the slot's own
                            // receiver keeps the outcome for the next caller.
                            let _ = tx.send(Some(outcome));
                        });
                        slots.insert(key.to_owned(), Slot::Running(rx.clone()));
                        rx
                    }
                }
            };
            let outcome = rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|o| o.clone());
            // Every waiter settles the slot the same way; only the first to
            // get here changes it, and only if it still holds this run.
            let mut slots = self.lock();
            let ours = matches!(slots.get(key), Some(Slot::Running(r)) if r.same_channel(&rx));
            match outcome {
                Some(Ok(v)) => {
                    if ours {
                        slots.insert(key.to_owned(), Slot::Ready(v.clone()));
                    }
                    return Ok(v);
                }
                Some(Err(e)) => {
                    if ours {
                        slots.remove(key);
                    }
                    return Err(e);
                }
                // The task died without an outcome (it panicked): free the
                // key and try again.
                None => {
                    if ours {
                        slots.remove(key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    type Call<'a> = Pin<Box<dyn Future<Output = Result<u32, String>> + Send + 'a>>;
    type Work = Box<dyn FnOnce() -> Call<'static> + Send>;

    /// Work that counts its runs and finishes once `gate` is opened, so the
    /// test decides when every caller is waiting.
    fn gated(
        runs: &Arc<AtomicUsize>,
        gate: &watch::Sender<bool>,
        outcome: Result<u32, String>,
    ) -> Work {
        let (runs, mut gate) = (runs.clone(), gate.subscribe());
        Box::new(move || {
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                outcome
            })
        })
    }

    /// Ten callers for one key: each is polled once (so each has either
    /// started the work or found it running) before the work may finish.
    async fn burst(
        sf: &SingleFlight<u32>,
        runs: &Arc<AtomicUsize>,
        outcome: Result<u32, String>,
    ) -> Vec<Result<u32, String>> {
        let (gate, _) = watch::channel(false);
        let mut calls: Vec<Call<'_>> = (0..10)
            .map(|_| {
                let work = gated(runs, &gate, outcome.clone());
                Box::pin(sf.get_or_run("img", work)) as Pin<Box<_>>
            })
            .collect();
        std::future::poll_fn(|cx| {
            for call in &mut calls {
                assert!(call.as_mut().poll(cx).is_pending());
            }
            std::task::Poll::Ready(())
        })
        .await;
        gate.send_replace(true);
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await);
        }
        results
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_run() {
        let sf = SingleFlight::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let results = burst(&sf, &runs, Ok(7)).await;
        assert_eq!(results, vec![Ok(7); 10]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(sf.get("img"), Some(7));
        // Kept: a later caller does not run the work again.
        let again = sf.get_or_run("img", || async { Ok(8) }).await;
        assert_eq!(again, Ok(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_reaches_every_waiter_and_is_not_kept() {
        let sf = SingleFlight::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let results = burst(&sf, &runs, Err("bad wasm".to_owned())).await;
        assert_eq!(results, vec![Err("bad wasm".to_owned()); 10]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(sf.get("img"), None);
        // The next caller tries again, and its success is kept.
        let again = sf.get_or_run("img", || async { Ok(9) }).await;
        assert_eq!(again, Ok(9));
        assert_eq!(sf.get("img"), Some(9));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_first_caller_does_not_strand_the_rest() {
        let sf = Arc::new(SingleFlight::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (gate, _) = watch::channel(false);
        let first = {
            let (sf, work) = (sf.clone(), gated(&runs, &gate, Ok(3)));
            tokio::spawn(async move { sf.get_or_run("img", work).await })
        };
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        first.abort();
        let _ = first.await;
        let second = {
            let (sf, work) = (sf.clone(), gated(&runs, &gate, Ok(4)));
            tokio::spawn(async move { sf.get_or_run("img", work).await })
        };
        gate.send_replace(true);
        assert_eq!(second.await.unwrap(), Ok(3));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn removing_a_key_drops_its_value() {
        let sf = SingleFlight::new();
        sf.insert("img", 1u32);
        assert_eq!(sf.get("img"), Some(1));
        sf.remove("img");
        assert_eq!(sf.get("img"), None);
        assert_eq!(sf.get_or_run("img", || async { Ok(2) }).await, Ok(2));
    }
}
