//! Group commit for one-at-a-time API writes (a route, a claim): concurrent requests queue up,
//! one worker task takes every request waiting and makes them in one write transaction, and
//! each request is answered when that transaction commits.
//!
//! Writers take turns under the write lock; without grouping, every request paid a whole
//! transaction under it (begin, the lock, a dozen statements and, on PostgreSQL, a WAL flush
//! at commit), and sixteen clients queued behind each other. A group pays the fixed part once.
//! Requests of a group are still decided one after another in arrival order, against what the
//! earlier ones left, so the outcome is what one-at-a-time would give.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::{StoreError, StoreResult};

/// A request with the channel its answer goes back on.
pub(crate) struct Queued<Input, Answer> {
    pub input: Input,
    pub answer: oneshot::Sender<StoreResult<Answer>>,
}

struct QueueState<Input, Answer> {
    waiting: Vec<Queued<Input, Answer>>,
    /// A worker is taking requests; a new one joins the queue instead of starting another.
    worker_running: bool,
}

/// Requests waiting for this process's worker of one kind.
pub(crate) struct GroupQueue<Input, Answer> {
    state: Arc<Mutex<QueueState<Input, Answer>>>,
}

impl<Input, Answer> Clone for GroupQueue<Input, Answer> {
    fn clone(&self) -> Self {
        GroupQueue {
            state: self.state.clone(),
        }
    }
}

impl<Input, Answer> Default for GroupQueue<Input, Answer> {
    fn default() -> Self {
        GroupQueue {
            state: Arc::new(Mutex::new(QueueState {
                waiting: Vec::new(),
                worker_running: false,
            })),
        }
    }
}

/// Marks the worker stopped when it ends, however it ends, so the next request starts one.
pub(crate) struct WorkerRunning<Input, Answer>(Arc<Mutex<QueueState<Input, Answer>>>);

impl<Input, Answer> Drop for WorkerRunning<Input, Answer> {
    fn drop(&mut self) {
        let mut state = lock(&self.0);
        state.worker_running = false;
        // Requests left behind by a worker that stopped early get no answer; their senders
        // drop here and their callers see an error instead of waiting for ever.
        state.waiting.clear();
    }
}

/// The queue's lock; a panic while it was held leaves nothing half-done in it.
fn lock<T>(state: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<Input: Send + 'static, Answer: Send + 'static> GroupQueue<Input, Answer> {
    /// Queues `input` and waits for its answer. `start_worker` runs (as a task of its own)
    /// when no worker is running: it must work through the queue with [`Self::next_group`].
    pub(crate) async fn submit<Worker>(
        &self,
        input: Input,
        start_worker: impl FnOnce(WorkerRunning<Input, Answer>) -> Worker,
    ) -> StoreResult<Answer>
    where
        Worker: Future<Output = ()> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = lock(&self.state);
            state.waiting.push(Queued { input, answer });
            !std::mem::replace(&mut state.worker_running, true)
        };
        if start {
            // A task of its own: the request that started it may be cancelled (its client
            // gone) without stopping the others'.
            tokio::spawn(start_worker(WorkerRunning(self.state.clone())));
        }
        answered.await.map_err(|_| {
            StoreError::Corrupt("the writer stopped before answering this request".to_string())
        })?
    }
}

impl<Input, Answer> WorkerRunning<Input, Answer> {
    /// The next group: at most `most` waiting requests that `takes` accepts, in arrival order
    /// (the others wait for a later group). `None` when nothing waits; the worker is then
    /// marked stopped under the same lock, so a request queued next starts a new one.
    pub(crate) fn next_group(
        &self,
        most: usize,
        mut takes: impl FnMut(&Input) -> bool,
    ) -> Option<Vec<Queued<Input, Answer>>> {
        let mut state = lock(&self.0);
        if state.waiting.is_empty() {
            state.worker_running = false;
            return None;
        }
        let mut group = Vec::new();
        let mut later = Vec::new();
        for request in state.waiting.drain(..) {
            if group.len() < most && takes(&request.input) {
                group.push(request);
            } else {
                later.push(request);
            }
        }
        state.waiting = later;
        Some(group)
    }
}

/// Makes a group with `make` in one transaction and answers each request. `make` answers
/// every input in order (each its own result) or fails as a whole, having written nothing;
/// then each request is made on its own, so one request's failure is never another's.
pub(crate) async fn answer_group<Input, Answer, Make, Made>(
    group: Vec<Queued<Input, Answer>>,
    make: Make,
) where
    Input: Clone,
    Make: Fn(Vec<Input>) -> Made,
    Made: Future<Output = StoreResult<Vec<StoreResult<Answer>>>>,
{
    let (inputs, senders): (Vec<Input>, Vec<_>) = group
        .into_iter()
        .map(|queued| (queued.input, queued.answer))
        .unzip();
    let retry = (inputs.len() > 1).then(|| inputs.clone());
    match (make(inputs).await, retry) {
        (Ok(answers), _) => {
            for (sender, answer) in senders.into_iter().zip(answers) {
                let _ = sender.send(answer);
            }
        }
        (Err(error), None) => {
            if let Some(sender) = senders.into_iter().next() {
                let _ = sender.send(Err(error));
            }
        }
        (Err(_), Some(inputs)) => {
            for (input, sender) in inputs.into_iter().zip(senders) {
                let answer = match make(vec![input]).await {
                    Ok(mut answers) => answers.pop().unwrap_or_else(|| {
                        Err(StoreError::Corrupt("a request went unanswered".to_string()))
                    }),
                    Err(error) => Err(error),
                };
                let _ = sender.send(answer);
            }
        }
    }
}
