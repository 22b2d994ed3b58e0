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
//! still being put away; at most one `resume` follows one [`lie_down`], and
//! an item whose wakers are all dropped unwoken is dropped with them.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Wake, Waker},
};

/// What a dormant item does when it wakes (for a connection: spawn a task).
pub(crate) trait Resume: Send + Sized + 'static {
    fn resume(self: Box<Self>);
}

// The waker's state, in one word: one of these, or the sleeping item's
// pointer. (A word rather than a `Mutex<enum>`: every dormant connection
// has one, and 16 bytes each add up.)
/// [`lie_down`] is still handing out wakers.
const ARMING: usize = 0;
/// Woken while arming: [`lie_down`] gives the item back instead.
const WOKEN: usize = 1;
/// Resumed; later wake-ups (from stale registrations) do nothing.
const AWAKE: usize = 2;

/// The waker of one dormant item: it owns the item while it sleeps.
struct Dormant<T: Resume> {
    /// `ARMING`, `WOKEN`, `AWAKE`, or a `Box<T>` turned into a pointer.
    state: AtomicUsize,
    // Owns a `T` that one thread at a time takes: `Sync` for any `Send` item,
    // as a `Mutex` would be.
    _item: std::marker::PhantomData<std::sync::Mutex<Box<T>>>,
}

impl<T: Resume> Wake for Dormant<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                ARMING => WOKEN,
                WOKEN | AWAKE => return,
                _asleep => AWAKE,
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(ARMING) => return,
                Ok(item) => {
                    // SAFETY: the pointer came from `Box::into_raw` in
                    // `lie_down`, and only this exchange took it out.
                    return unsafe { Box::from_raw(item as *mut T) }.resume();
                }
                Err(now) => state = now,
            }
        }
    }
}

impl<T: Resume> Drop for Dormant<T> {
    fn drop(&mut self) {
        let state = *self.state.get_mut();
        if !matches!(state, ARMING | WOKEN | AWAKE) {
            // Never woken, and no waker left to do it: the item goes.
            // SAFETY: as in `wake_by_ref`; nothing else can take it now.
            drop(unsafe { Box::from_raw(state as *mut T) });
        }
    }
}

/// Put `item` to sleep. `arm` gives the waker to everything that may wake the
/// item and says whether one of them is ready already. Returns the item when
/// it must go on running now; otherwise it sleeps, and the first wake-up
/// calls its [`Resume::resume`].
pub(crate) fn lie_down<T: Resume>(
    mut item: Box<T>,
    arm: impl FnOnce(&mut T, &mut Context<'_>) -> bool,
) -> Option<Box<T>> {
    let dormant = Arc::new(Dormant::<T> {
        state: AtomicUsize::new(ARMING),
        _item: std::marker::PhantomData,
    });
    let waker = Waker::from(dormant.clone());
    if arm(&mut item, &mut Context::from_waker(&waker)) {
        dormant.state.store(AWAKE, Ordering::Release);
        return Some(item);
    }
    let raw = Box::into_raw(item);
    match dormant
        .state
        .compare_exchange(ARMING, raw as usize, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => None,
        Err(_woken) => {
            dormant.state.store(AWAKE, Ordering::Release);
            // SAFETY: the exchange failed, so the pointer was never published.
            Some(unsafe { Box::from_raw(raw) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static RESUMED: AtomicUsize = AtomicUsize::new(0);

    struct Count(usize);

    impl Resume for Count {
        fn resume(self: Box<Self>) {
            RESUMED.fetch_add(self.0, Ordering::SeqCst);
        }
    }

    #[test]
    fn one_wake_up_resumes_once_and_a_ready_arm_keeps_the_item() {
        let mut saved = None;
        let slept = lie_down(Box::new(Count(1)), |_, cx| {
            saved = Some(cx.waker().clone());
            false
        });
        assert!(slept.is_none(), "nothing was ready: it sleeps");
        let waker = saved.expect("armed");
        let before = RESUMED.load(Ordering::SeqCst);
        waker.wake_by_ref();
        waker.wake_by_ref();
        waker.wake();
        assert_eq!(RESUMED.load(Ordering::SeqCst) - before, 1);

        let back = lie_down(Box::new(Count(5)), |_, _| true);
        assert_eq!(back.map(|c| c.0), Some(5), "ready at once: given back");
    }

    #[test]
    fn a_wake_up_while_arming_gives_the_item_back() {
        let back = lie_down(Box::new(Count(7)), |_, cx| {
            // Something fired after it was registered, before the item was put away.
            cx.waker().wake_by_ref();
            false
        });
        assert_eq!(back.map(|c| c.0), Some(7));
    }

    #[test]
    fn an_item_nobody_wakes_is_dropped_with_its_last_waker() {
        struct Tracked(#[allow(dead_code)] Arc<()>);
        impl Resume for Tracked {
            fn resume(self: Box<Self>) {}
        }
        let alive = Arc::new(());
        let mut saved = None;
        let slept = lie_down(Box::new(Tracked(alive.clone())), |_, cx| {
            saved = Some(cx.waker().clone());
            false
        });
        assert!(slept.is_none());
        assert_eq!(Arc::strong_count(&alive), 2, "asleep, held by its waker");
        drop(saved);
        assert_eq!(Arc::strong_count(&alive), 1, "freed with the last waker");
    }
}
