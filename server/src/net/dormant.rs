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
//!
//! The waker's allocation (a [`Bed`]) comes back with the item when it wakes,
//! and the next [`lie_down`] reuses it once nothing else holds a clone. A new
//! one per lie-down was the one allocation of a wake-up that outlived it:
//! after a broadcast and a ping sweep woke 19,968 dormant connections, those
//! 32-byte chunks lay among the burst's freed buffers and kept their pages
//! resident, and RSS stayed 6 MiB (about 300 bytes per connection) above its
//! level before the sweeps even after `malloc_trim`; reused, it comes back to
//! within 1 MiB (`kite-bench connections --milestones 100000`).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Wake, Waker},
};

/// What a dormant item does when it wakes (for a connection: spawn a task).
pub(crate) trait Resume: Send + Sized + 'static {
    /// `bed` is the waker's allocation, for the next [`lie_down`].
    fn resume(self: Box<Self>, bed: Bed<Self>);
}

/// The allocation of a dormant item's waker, kept by the item while it is
/// awake so that its next [`lie_down`] need not allocate.
pub(crate) struct Bed<T: Resume>(Arc<Dormant<T>>);

impl<T: Resume> Bed<T> {
    /// This bed if no stale waker holds it any more, else a new one.
    /// (A stale waker of the last sleep must not wake the next one.)
    fn make(bed: Option<Bed<T>>) -> Arc<Dormant<T>> {
        if let Some(Bed(mut dormant)) = bed {
            if let Some(unique) = Arc::get_mut(&mut dormant) {
                // Awake, so it holds no item: only the state to reset.
                *unique.state.get_mut() = ARMING;
                return dormant;
            }
        }
        Arc::new(Dormant {
            state: AtomicUsize::new(ARMING),
            _item: std::marker::PhantomData,
        })
    }
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
    /// The waker's own reference goes into the bed, rather than a clone
    /// that lives on in the waking thread (the parking lot's, a
    /// publisher's) while the item already runs: a bed still shared when
    /// the item lies down again cannot be reused.
    fn wake(self: Arc<Self>) {
        if let Some(item) = self.take_item() {
            item.resume(Bed(self));
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(item) = self.take_item() {
            item.resume(Bed(self.clone()));
        }
    }
}

impl<T: Resume> Dormant<T> {
    /// The sleeping item, for the one wake-up that resumes it; `None` while
    /// arming (that wake-up is marked, and the item given back) or awake.
    fn take_item(&self) -> Option<Box<T>> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                ARMING => WOKEN,
                WOKEN | AWAKE => return None,
                _asleep => AWAKE,
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(ARMING) => return None,
                // SAFETY: the pointer came from `Box::into_raw` in
                // `lie_down`, and only this exchange took it out.
                Ok(item) => return Some(unsafe { Box::from_raw(item as *mut T) }),
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

/// Put `item` to sleep, in `bed` (from its last wake-up) if it can be reused.
/// `arm` gives the waker to everything that may wake the item and says
/// whether one of them is ready already. Returns the item (and the bed) when
/// it must go on running now; otherwise it sleeps, and the first wake-up
/// calls its [`Resume::resume`].
pub(crate) fn lie_down<T: Resume>(
    mut item: Box<T>,
    bed: Option<Bed<T>>,
    arm: impl FnOnce(&mut T, &mut Context<'_>) -> bool,
) -> Option<(Box<T>, Bed<T>)> {
    // A zero-sized item's box is a dangling address as small as its
    // alignment, which the state word could mistake for `WOKEN` or `AWAKE`.
    const { assert!(std::mem::size_of::<T>() > 0, "a dormant item has a size") };
    let dormant = Bed::make(bed);
    let waker = Waker::from(dormant.clone());
    if arm(&mut item, &mut Context::from_waker(&waker)) {
        dormant.state.store(AWAKE, Ordering::Release);
        return Some((item, Bed(dormant)));
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
            Some((unsafe { Box::from_raw(raw) }, Bed(dormant)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static RESUMED: AtomicUsize = AtomicUsize::new(0);

    struct Count(usize);

    impl Resume for Count {
        fn resume(self: Box<Self>, _bed: Bed<Self>) {
            RESUMED.fetch_add(self.0, Ordering::SeqCst);
        }
    }

    #[test]
    fn one_wake_up_resumes_once_and_a_ready_arm_keeps_the_item() {
        let mut saved = None;
        let slept = lie_down(Box::new(Count(1)), None, |_, cx| {
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

        let back = lie_down(Box::new(Count(5)), None, |_, _| true);
        assert_eq!(back.map(|(c, _)| c.0), Some(5), "ready at once: given back");
    }

    #[test]
    fn a_wake_up_while_arming_gives_the_item_back() {
        let back = lie_down(Box::new(Count(7)), None, |_, cx| {
            // Something fired after it was registered, before the item was put away.
            cx.waker().wake_by_ref();
            false
        });
        assert_eq!(back.map(|(c, _)| c.0), Some(7));
    }

    /// Where a woken item keeps its bed, for the next sleep.
    static BEDS: std::sync::Mutex<Vec<Bed<Kept>>> = std::sync::Mutex::new(Vec::new());

    /// Not zero-sized: a zero-sized item's box has no address of its own.
    struct Kept(#[allow(dead_code)] u64);

    impl Resume for Kept {
        fn resume(self: Box<Self>, bed: Bed<Self>) {
            BEDS.lock().unwrap().push(bed);
        }
    }

    fn address(bed: &Bed<Kept>) -> usize {
        Arc::as_ptr(&bed.0) as usize
    }

    #[test]
    fn the_next_sleep_reuses_the_bed_unless_a_stale_waker_still_holds_it() {
        let sleep = |bed| {
            let mut saved = None;
            let slept = lie_down(Box::new(Kept(0)), bed, |_, cx| {
                saved = Some(cx.waker().clone());
                false
            });
            assert!(slept.is_none());
            saved.expect("armed")
        };
        let woken = || BEDS.lock().unwrap().pop().expect("resumed with its bed");
        sleep(None).wake();
        let bed = woken();
        let first = address(&bed);
        sleep(Some(bed)).wake();
        let bed = woken();
        assert_eq!(address(&bed), first, "nothing else held it: reused");

        // Woken by reference: the waker that woke it is still out there.
        let stale = sleep(Some(bed));
        stale.wake_by_ref();
        let bed = woken();
        let fresh = sleep(Some(bed));
        assert_ne!(address(&woken_by(&fresh)), first, "a new bed");
        // The stale waker belongs to a sleep that is over: it does nothing.
        stale.wake();
        assert!(BEDS.lock().unwrap().is_empty(), "no second resume");
    }

    fn woken_by(waker: &Waker) -> Bed<Kept> {
        waker.wake_by_ref();
        BEDS.lock().unwrap().pop().expect("resumed")
    }

    #[test]
    fn an_item_nobody_wakes_is_dropped_with_its_last_waker() {
        struct Tracked(#[allow(dead_code)] Arc<()>);
        impl Resume for Tracked {
            fn resume(self: Box<Self>, _bed: Bed<Self>) {}
        }
        let alive = Arc::new(());
        let mut saved = None;
        let slept = lie_down(Box::new(Tracked(alive.clone())), None, |_, cx| {
            saved = Some(cx.waker().clone());
            false
        });
        assert!(slept.is_none());
        assert_eq!(Arc::strong_count(&alive), 2, "asleep, held by its waker");
        drop(saved);
        assert_eq!(Arc::strong_count(&alive), 1, "freed with the last waker");
    }
}
