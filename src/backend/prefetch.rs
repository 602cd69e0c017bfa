//! The mount's max lease TTL, asked for while the host is still deciding
//! whether a create may go ahead.
//!
//! Vault and OpenBao send every write to `totp` as an existence check first
//! (to pick the ACL capability), then as the request itself, both with the
//! same request id. The check starts the `SystemView.MaxLeaseTTL` call and
//! returns; the create then finds the answer waiting instead of making its
//! own round trip. Nothing is cached across requests: each answer was asked
//! for after its request reached the host and serves that request once, so
//! an `auth tune` applies to the very next create as before.

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

/// Max lease TTL answers by request id.
#[derive(Default)]
pub(super) struct MaxTtlPrefetch {
    pending: Mutex<HashMap<String, Pending>>,
}

impl MaxTtlPrefetch {
    // Each critical section is one map operation (and a prune), which leaves
    // the map whole even if a holder panicked: poisoning is ignored.
    fn pending(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the host for the max lease TTL on behalf of request `id`.
    pub(super) fn start(&self, id: &str, view: &Arc<dyn SystemView>) {
        if id.is_empty() {
            return;
        }
        let mut pending = self.pending();
        if pending.len() >= MAX_PENDING {
            pending.retain(|_, p| p.asked.elapsed() < MAX_AGE);
            if pending.len() >= MAX_PENDING {
                return;
            }
        }
        let (send, answer) = oneshot::channel();
        let view = view.clone();
        tokio::spawn(async move {
            let _ = send.send(view.max_lease_ttl().await);
        });
        let asked = Instant::now();
        pending.insert(id.to_owned(), Pending { asked, answer });
    }

    /// What was asked for request `id`, if anything; taking it makes room
    /// whether or not the request then needs it.
    pub(super) fn take(&self, id: &str) -> MaxTtl {
        MaxTtl(self.pending().remove(id).map(|p| p.answer))
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.pending().len()
    }
}

/// A request's max lease TTL: asked for already, or not yet.
pub(super) struct MaxTtl(Option<oneshot::Receiver<Answer>>);

impl MaxTtl {
    /// The answer asked for by the existence check, or a fresh call when
    /// there was none (or it was lost).
    pub(super) async fn get(self, view: &dyn SystemView) -> Answer {
        if let Some(answer) = self.0 {
            if let Ok(answer) = answer.await {
                return answer;
            }
        }
        view.max_lease_ttl().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::protocol::ReplicationState;

    /// A max lease TTL that can be tuned, and a count of the calls for it.
    #[derive(Default)]
    struct TunableView {
        ttl_secs: AtomicU64,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl SystemView for TunableView {
        async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(Duration::from_secs(self.ttl_secs.load(Ordering::SeqCst)))
        }
        async fn replication_state(&self) -> Result<ReplicationState, SystemViewError> {
            Ok(ReplicationState::REPLICATION_DISABLED)
        }
        async fn local_mount(&self) -> Result<bool, SystemViewError> {
            Ok(false)
        }
    }

    fn view(ttl_secs: u64) -> (Arc<TunableView>, Arc<dyn SystemView>) {
        let view = Arc::new(TunableView::default());
        view.ttl_secs.store(ttl_secs, Ordering::SeqCst);
        (view.clone(), view)
    }

    #[tokio::test]
    async fn an_answer_serves_the_request_it_was_asked_for_once() {
        let (counts, view) = view(60);
        let prefetch = MaxTtlPrefetch::default();
        prefetch.start("r1", &view);
        assert_eq!(prefetch.waiting(), 1);
        let ttl = prefetch.take("r1").get(view.as_ref()).await;
        assert_eq!(ttl, Ok(Duration::from_secs(60)));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 1);
        assert_eq!(prefetch.waiting(), 0);

        // A tune between two requests: the next one asks again.
        counts.ttl_secs.store(30, Ordering::SeqCst);
        let again = prefetch.take("r1").get(view.as_ref()).await;
        assert_eq!(again, Ok(Duration::from_secs(30)));
        prefetch.start("r2", &view);
        let next = prefetch.take("r2").get(view.as_ref()).await;
        assert_eq!(next, Ok(Duration::from_secs(30)));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn without_an_id_nothing_is_asked_ahead() {
        let (counts, view) = view(60);
        let prefetch = MaxTtlPrefetch::default();
        prefetch.start("", &view);
        assert_eq!(prefetch.waiting(), 0);
        let ttl = prefetch.take("").get(view.as_ref()).await;
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
        let ttl = prefetch.take("refused-1030").get(view.as_ref()).await;
        assert_eq!(ttl, Ok(Duration::from_secs(60)));
    }
}
