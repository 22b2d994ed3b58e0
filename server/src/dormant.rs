//! A quiet connection without a task.
//!
//! Most of a broker's connections are quiet most of the time: a device that
//! publishes once a minute, a dashboard that waits for alarms. A tokio task
//! for each keeps its whole future (the connection loop's state, about 2 KB)
//! and the task's own header alive while it waits. A dormant connection keeps
//! only its state, boxed, behind one small waker: [`lie_down`] hands that
//! waker to whatever may wake the connection (its socket, its message queue,
//! a takeover, its keepalive timer) and the task ends. The first of them to
//! fire calls `resume`, which spawns a new task for the connection.
//!
//! The waker may fire from any thread, more than once, or while the state is
//! still being put away; exactly one `resume` follows one [`lie_down`].

use std::{
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Wake, Waker},
};

/// Where a dormant item is in its sleep.
enum State<T> {
    /// [`lie_down`] is still handing out wakers.
    Arming,
    /// Woken while arming: [`lie_down`] gives the item back instead.
    Woken,
    /// Put away until a wake-up.
    Asleep(Box<T>),
    /// Resumed; later wake-ups (from stale registrations) do nothing.
    Awake,
}

/// The waker of one dormant item: it owns the item while it sleeps.
struct Dormant<T> {
    state: Mutex<State<T>>,
    resume: fn(Box<T>),
}

impl<T> Dormant<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every change under this lock is a single assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T: Send + 'static> Wake for Dormant<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let item = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Awake) {
                State::Arming => {
                    *state = State::Woken;
                    None
                }
                State::Asleep(item) => Some(item),
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(item) = item {
            (self.resume)(item);
        }
    }
}

/// Put `item` to sleep. `arm` gives the waker to everything that may wake the
/// item and says whether one of them is ready already. Returns the item when
/// it must go on running now; otherwise it sleeps, and the first wake-up
/// passes it to `resume`.
pub fn lie_down<T: Send + 'static>(
    mut item: Box<T>,
    arm: impl FnOnce(&mut T, &mut Context<'_>) -> bool,
    resume: fn(Box<T>),
) -> Option<Box<T>> {
    let dormant = Arc::new(Dormant {
        state: Mutex::new(State::Arming),
        resume,
    });
    let waker = Waker::from(dormant.clone());
    if arm(&mut item, &mut Context::from_waker(&waker)) {
        *dormant.lock() = State::Awake;
        return Some(item);
    }
    let mut state = dormant.lock();
    match *state {
        State::Woken => {
            *state = State::Awake;
            Some(item)
        }
        _ => {
            *state = State::Asleep(item);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RESUMED: AtomicUsize = AtomicUsize::new(0);

    fn count(item: Box<usize>) {
        RESUMED.fetch_add(*item, Ordering::SeqCst);
    }

    #[test]
    fn one_wake_up_resumes_once_and_a_ready_arm_keeps_the_item() {
        let mut saved = None;
        let slept = lie_down(
            Box::new(1usize),
            |_, cx| {
                saved = Some(cx.waker().clone());
                false
            },
            count,
        );
        assert!(slept.is_none(), "nothing was ready: it sleeps");
        let waker = saved.expect("armed");
        let before = RESUMED.load(Ordering::SeqCst);
        waker.wake_by_ref();
        waker.wake_by_ref();
        waker.wake();
        assert_eq!(RESUMED.load(Ordering::SeqCst) - before, 1);

        let back = lie_down(Box::new(5usize), |_, _| true, count);
        assert_eq!(back.as_deref(), Some(&5), "ready at once: given back");
    }

    #[test]
    fn a_wake_up_while_arming_gives_the_item_back() {
        let back = lie_down(
            Box::new(7usize),
            |_, cx| {
                // Something fired after it was registered, before the item was put away.
                cx.waker().wake_by_ref();
                false
            },
            count,
        );
        assert_eq!(back.as_deref(), Some(&7));
    }
}
