//! The line from the broker to the history's worker: bounded, like a
//! `sync_channel`, but holding memory only for what is on it.
//!
//! `std::sync::mpsc::sync_channel(65_536)` allocates and writes its whole
//! ring at once: 65,536 slots of 136 bytes, 8.7 MB resident in every broker
//! from its start, most of an idle broker's anonymous memory (9.9 MB), for
//! a line that is empty nearly always. An unbounded channel takes its slots
//! in small blocks as messages come and frees them as they go; a count of
//! what is on the line keeps the bound.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc, Arc,
};

/// The sending end (the broker's).
pub(super) struct Line<T> {
    tx: mpsc::Sender<T>,
    on_line: Arc<AtomicUsize>,
    bound: usize,
}

/// The receiving end (the worker's).
pub(super) struct Taker<T> {
    rx: mpsc::Receiver<T>,
    on_line: Arc<AtomicUsize>,
}

/// What is on the line once the worker is gone: nothing will take from
/// it, so [`Line::wait_and_send`] must not wait for room.
const GONE: usize = usize::MAX / 2;

impl<T> Drop for Taker<T> {
    fn drop(&mut self) {
        self.on_line.store(GONE, Ordering::Relaxed);
    }
}

/// A line that [`Line::offer`] keeps to `bound` messages.
pub(super) fn line<T>(bound: usize) -> (Line<T>, Taker<T>) {
    let (tx, rx) = mpsc::channel();
    let on_line = Arc::new(AtomicUsize::new(0));
    let taker = Taker {
        rx,
        on_line: on_line.clone(),
    };
    (Line { tx, on_line, bound }, taker)
}

impl<T> Line<T> {
    /// Sends unless the line is full or the worker is gone; false then.
    pub(super) fn offer(&self, item: T) -> bool {
        if self.on_line.fetch_add(1, Ordering::Relaxed) >= self.bound {
            self.on_line.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        self.put(item)
    }

    /// Sends once the line has room (polling: for tools that replay data).
    pub(super) fn wait_and_send(&self, item: T, poll: std::time::Duration) -> bool {
        loop {
            let on_line = self.on_line.load(Ordering::Relaxed);
            if on_line < self.bound || on_line >= GONE {
                break;
            }
            std::thread::sleep(poll);
        }
        self.send(item)
    }

    /// Sends whatever the line holds (the worker's own orders: a query, a
    /// settle, stop); false if the worker is gone.
    pub(super) fn send(&self, item: T) -> bool {
        self.on_line.fetch_add(1, Ordering::Relaxed);
        self.put(item)
    }

    /// Sends an item already counted on the line.
    fn put(&self, item: T) -> bool {
        if self.tx.send(item).is_err() {
            self.on_line.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

impl<T> Taker<T> {
    pub(super) fn try_recv(&self) -> Result<T, mpsc::TryRecvError> {
        let item = self.rx.try_recv()?;
        self.on_line.fetch_sub(1, Ordering::Relaxed);
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_past_the_bound_is_refused_until_the_worker_takes_one() {
        let (line, taker) = line::<u32>(2);
        assert!(line.offer(1) && line.offer(2));
        assert!(!line.offer(3), "full");
        assert!(line.send(99), "the worker's orders go past the bound");
        assert_eq!(taker.try_recv(), Ok(1));
        assert!(!line.offer(4), "still 2 on the line (2 and 99)");
        assert_eq!(taker.try_recv(), Ok(2));
        assert!(line.offer(5));
        assert_eq!(
            (taker.try_recv(), taker.try_recv(), taker.try_recv()),
            (Ok(99), Ok(5), Err(mpsc::TryRecvError::Empty))
        );
        assert!(line.offer(6) && line.offer(7));
        drop(taker);
        assert!(!line.offer(8), "the worker is gone");
        assert!(
            !line.wait_and_send(9, std::time::Duration::from_millis(1)),
            "a full line whose worker is gone does not wait"
        );
        assert!(!line.send(10));
    }
}
