//! The admission workers: each decision runs on a blocking thread, off the async workers that
//! serve connections and probes, and at most a fixed number run at once. On a multi-threaded
//! runtime the request's own thread becomes that blocking thread (`block_in_place`, another thread
//! takes over its async tasks), which spares a hand-off between threads on every admission; on a
//! single-threaded runtime the job is sent to the blocking pool.
//!
//! A burst waits for a free worker for at most the queue timeout; past it the caller answers
//! without deciding (the pod is allowed unchanged with a warning), so a saturated replica still
//! answers before the API server's webhook timeout instead of queueing without bound.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Semaphore;

/// Why a job did not produce its result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker stayed busy for the whole queue timeout.
    #[error("every admission worker stayed busy for {0:?}")]
    Busy(Duration),
    /// The job panicked or was cancelled.
    #[error("the admission job failed")]
    Failed,
}

/// A bounded set of blocking workers.
#[derive(Clone, Debug)]
pub struct AdmissionPool {
    workers: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl AdmissionPool {
    /// A pool running at most `workers` jobs at once (at least one), each waiting at most
    /// `queue_timeout` for its turn.
    pub fn new(workers: usize, queue_timeout: Duration) -> Self {
        AdmissionPool {
            workers: Arc::new(Semaphore::new(workers.clamp(1, Semaphore::MAX_PERMITS))),
            queue_timeout,
        }
    }

    /// Runs `job` on a blocking thread once a worker is free. A job that started runs to its end
    /// even when the caller stops waiting, and keeps its worker until then.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit =
            match tokio::time::timeout(self.queue_timeout, self.workers.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                Ok(Err(_closed)) => return Err(PoolError::Failed),
                Err(_elapsed) => return Err(PoolError::Busy(self.queue_timeout)),
            };
        if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
            // The job runs on this thread, which the runtime gives up as an async worker (another
            // thread takes over its tasks): no hand-off to wait for on the request's path.
            let _permit = permit;
            return tokio::task::block_in_place(|| catch_unwind(AssertUnwindSafe(job)))
                .map_err(|_| PoolError::Failed);
        }
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|_| PoolError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_answers_busy_after_the_queue_timeout() {
        let pool = AdmissionPool::new(1, Duration::from_millis(50));
        let (entered_tx, entered) = tokio::sync::oneshot::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = entered_tx.send(());
                    let _ = release_rx.recv_timeout(Duration::from_secs(10));
                    1
                })
                .await
            })
        };
        entered.await.unwrap();
        assert_eq!(
            pool.run(|| 2).await,
            Err(PoolError::Busy(Duration::from_millis(50)))
        );
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(pool.run(|| 3).await, Ok(3));
        assert_eq!(
            pool.run(|| -> i32 { panic!("broken") }).await,
            Err(PoolError::Failed)
        );
    }
}
