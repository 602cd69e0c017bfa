//! The mount's max lease TTL, asked for while the host is still deciding
//! whether a create may go ahead, and shared by creates that arrive together.
//!
//! Vault and OpenBao send every write to `totp` as an existence check first
//! (to pick the ACL capability), then as the request itself, both with the
//! same request id. The check asks for the `SystemView.MaxLeaseTTL` answer
//! and returns; the create then finds it waiting instead of making its own
//! round trip.
//!
//! One call is in flight at a time. A request that arrives while one is in
//! flight waits for the next, which is sent when that one ends and serves
//! every request that arrived meanwhile. So each answer comes from a call
//! sent after its request reached the plugin, as with a call of its own,
//! and an `auth tune` applies to the very next create; nothing is cached.
//! Under load, concurrent creates share one call instead of each making one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::protocol::{SystemView, SystemViewError};

/// At most this many answers wait for their request; more checks than
/// that without their requests (refused by ACL, say) stop prefetching.
const MAX_PENDING: usize = 1024;
/// An answer whose request has not come by then never will.
const MAX_AGE: Duration = Duration::from_secs(10);

type Answer = Result<Duration, SystemViewError>;

struct Pending {
    asked: Instant,
    answer: oneshot::Receiver<Answer>,
}

/// The requests waiting for the next call, and whether a call is running.
#[derive(Default)]
struct Flights {
    calling: bool,
    next: Vec<oneshot::Sender<Answer>>,
}

/// Max lease TTL answers by request id.
#[derive(Default)]
pub(super) struct MaxTtlPrefetch {
    pending: Mutex<HashMap<String, Pending>>,
    flights: Arc<Mutex<Flights>>,
}

// Each critical section is one map or vector operation (and a prune), which
// leaves the value whole even if a holder panicked: poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MaxTtlPrefetch {
    /// Asks the host for the max lease TTL on behalf of request `id`.
    pub(super) fn start(&self, id: &str, view: &Arc<dyn SystemView>) {
        if id.is_empty() {
            return;
        }
        let mut pending = lock(&self.pending);
        if pending.len() >= MAX_PENDING {
            pending.retain(|_, p| p.asked.elapsed() < MAX_AGE);
            if pending.len() >= MAX_PENDING {
                return;
            }
        }
        let answer = self.ask(view);
        let asked = Instant::now();
        pending.insert(id.to_owned(), Pending { asked, answer });
    }

    /// What was asked for request `id`, or a new ask; taking it makes room
    /// whether or not the request then needs it.
    pub(super) fn take(&self, id: &str, view: &Arc<dyn SystemView>) -> MaxTtl {
        let prefetched = lock(&self.pending).remove(id).map(|p| p.answer);
        MaxTtl(prefetched.unwrap_or_else(|| self.ask(view)))
    }

    /// An answer from the next call sent.
    fn ask(&self, view: &Arc<dyn SystemView>) -> oneshot::Receiver<Answer> {
        let (send, answer) = oneshot::channel();
        let mut flights = lock(&self.flights);
        flights.next.push(send);
        if !flights.calling {
            flights.calling = true;
            let calls = Calls {
                flights: self.flights.clone(),
                ended: false,
            };
            tokio::spawn(calls.run(view.clone()));
        }
        answer
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        lock(&self.pending).len()
    }
}

/// The task that sends the calls, one after the other, while requests wait.
struct Calls {
    flights: Arc<Mutex<Flights>>,
    ended: bool,
}

impl Calls {
    async fn run(mut self, view: Arc<dyn SystemView>) {
        loop {
            let waiters = {
                let mut flights = lock(&self.flights);
                if flights.next.is_empty() {
                    flights.calling = false;
                    self.ended = true;
                    return;
                }
                std::mem::take(&mut flights.next)
            };
            // Sent after every one of them arrived.
            let answer = view.max_lease_ttl().await;
            for waiter in waiters {
                let _ = waiter.send(answer.clone());
            }
        }
    }
}

impl Drop for Calls {
    /// A task that stopped short (a panic, a runtime shutting down) lets the
    /// requests waiting on it fall back to calls of their own.
    fn drop(&mut self) {
        if !self.ended {
            let mut flights = lock(&self.flights);
            flights.calling = false;
            flights.next.clear();
        }
    }
}

/// A request's max lease TTL, asked for already.
pub(super) struct MaxTtl(oneshot::Receiver<Answer>);

impl MaxTtl {
    /// The answer asked for, or a call of the request's own if it was lost.
    pub(super) async fn get(self, view: &dyn SystemView) -> Answer {
        match self.0.await {
            Ok(answer) => answer,
            Err(_) => view.max_lease_ttl().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::protocol::ReplicationState;

    /// A max lease TTL that can be tuned, a count of the calls for it, and,
    /// when gated, calls that read the value as they reach the host, then
    /// wait for a permit to answer.
    #[derive(Default)]
    struct TunableView {
        ttl_secs: AtomicU64,
        calls: AtomicUsize,
        gate: Option<Semaphore>,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl SystemView for TunableView {
        async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let ttl = Duration::from_secs(self.ttl_secs.load(Ordering::SeqCst));
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(SystemViewError("down".into()));
            }
            Ok(ttl)
        }
        async fn replication_state(&self) -> Result<ReplicationState, SystemViewError> {
            Ok(ReplicationState::REPLICATION_DISABLED)
        }
        async fn local_mount(&self) -> Result<bool, SystemViewError> {
            Ok(false)
        }
    }

    fn view(ttl_secs: u64) -> (Arc<TunableView>, Arc<dyn SystemView>) {
        with(TunableView::default(), ttl_secs)
    }

    fn gated(ttl_secs: u64) -> (Arc<TunableView>, Arc<dyn SystemView>) {
        let gate = Some(Semaphore::new(0));
        with(
            TunableView {
                gate,
                ..TunableView::default()
            },
            ttl_secs,
        )
    }

    fn with(view: TunableView, ttl_secs: u64) -> (Arc<TunableView>, Arc<dyn SystemView>) {
        let view = Arc::new(view);
        view.ttl_secs.store(ttl_secs, Ordering::SeqCst);
        (view.clone(), view)
    }

    async fn calls_reach(view: &TunableView, n: usize) {
        for _ in 0..100_000 {
            if view.calls.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "{n} calls expected, {} made",
            view.calls.load(Ordering::SeqCst)
        );
    }

    #[tokio::test]
    async fn an_answer_serves_the_request_it_was_asked_for_once() {
        let (counts, view) = view(60);
        let prefetch = MaxTtlPrefetch::default();
        prefetch.start("r1", &view);
        assert_eq!(prefetch.waiting(), 1);
        let ttl = prefetch.take("r1", &view).get(view.as_ref()).await;
        assert_eq!(ttl, Ok(Duration::from_secs(60)));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 1);
        assert_eq!(prefetch.waiting(), 0);

        // A tune between two requests: the next one asks again.
        counts.ttl_secs.store(30, Ordering::SeqCst);
        let again = prefetch.take("r1", &view).get(view.as_ref()).await;
        assert_eq!(again, Ok(Duration::from_secs(30)));
        prefetch.start("r2", &view);
        let next = prefetch.take("r2", &view).get(view.as_ref()).await;
        assert_eq!(next, Ok(Duration::from_secs(30)));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn requests_share_only_a_call_sent_after_they_arrived() {
        let (counts, view) = gated(60);
        let prefetch = MaxTtlPrefetch::default();
        prefetch.start("r1", &view);
        calls_reach(&counts, 1).await;
        // The call for r1 has read 60. A tune, then two requests: the call
        // in flight must not answer them.
        counts.ttl_secs.store(30, Ordering::SeqCst);
        prefetch.start("r2", &view);
        prefetch.start("r3", &view);
        let gate = counts.gate.as_ref().unwrap();
        gate.add_permits(1);
        let r1 = prefetch.take("r1", &view).get(view.as_ref()).await;
        assert_eq!(r1, Ok(Duration::from_secs(60)));
        // One call, sent after both arrived, serves both.
        calls_reach(&counts, 2).await;
        gate.add_permits(1);
        for id in ["r2", "r3"] {
            let ttl = prefetch.take(id, &view).get(view.as_ref()).await;
            assert_eq!(ttl, Ok(Duration::from_secs(30)), "{id}");
        }
        assert_eq!(counts.calls.load(Ordering::SeqCst), 2);
        // With nothing in flight, the next request gets a call at once.
        prefetch.start("r4", &view);
        calls_reach(&counts, 3).await;
        gate.add_permits(1);
        let r4 = prefetch.take("r4", &view).get(view.as_ref()).await;
        assert_eq!(r4, Ok(Duration::from_secs(30)));
    }

    #[tokio::test]
    async fn a_failed_call_fails_the_requests_it_served_and_the_next_asks_again() {
        let (counts, view) = gated(60);
        counts.fail.store(true, Ordering::SeqCst);
        let prefetch = MaxTtlPrefetch::default();
        prefetch.start("r1", &view);
        calls_reach(&counts, 1).await;
        prefetch.start("r2", &view);
        counts.gate.as_ref().unwrap().add_permits(2);
        for id in ["r1", "r2"] {
            let ttl = prefetch.take(id, &view).get(view.as_ref()).await;
            assert_eq!(ttl, Err(SystemViewError("down".into())), "{id}");
        }
        counts.fail.store(false, Ordering::SeqCst);
        counts.gate.as_ref().unwrap().add_permits(1);
        let ttl = prefetch.take("r3", &view).get(view.as_ref()).await;
        assert_eq!(ttl, Ok(Duration::from_secs(60)));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn without_an_id_nothing_is_asked_ahead() {
        let (counts, view) = view(60);
        let prefetch = MaxTtlPrefetch::default();
        prefetch.start("", &view);
        assert_eq!(prefetch.waiting(), 0);
        assert_eq!(counts.calls.load(Ordering::SeqCst), 0);
        let ttl = prefetch.take("", &view).get(view.as_ref()).await;
        assert_eq!(ttl, Ok(Duration::from_secs(60)));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn checks_whose_requests_never_come_stay_bounded() {
        let (_, view) = view(60);
        let prefetch = MaxTtlPrefetch::default();
        for n in 0..MAX_PENDING + 10 {
            prefetch.start(&format!("refused-{n}"), &view);
        }
        assert_eq!(prefetch.waiting(), MAX_PENDING);
        // A request whose answer was not kept still gets one.
        let ttl = prefetch
            .take("refused-1030", &view)
            .get(view.as_ref())
            .await;
        assert_eq!(ttl, Ok(Duration::from_secs(60)));
    }
}
