//! A client's queue of outbound messages: any number of publishers push, the
//! client's connection pops. Bounded by `--max-queued-messages`.
//!
//! It does what a tokio mpsc channel did here (reserve a slot, then send;
//! `recv` in a `select!`), but it allocates nothing until a message arrives
//! and gives its memory back when its connection goes idle. A tokio channel
//! allocates a block of 32 slots and a cache-padded header up front: about
//! 2.3 KB for every client, most of which never receive anything.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use super::budget::QueueBudget;
use crate::protocol::message::Outbound;

/// A new mailbox holding at most `capacity` messages (at least 1).
pub(crate) fn mailbox(capacity: usize) -> (Sender, Receiver) {
    let inner = Arc::new(Inner {
        budget: QueueBudget::new(capacity),
        state: Mutex::new(State::default()),
    });
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

#[derive(Debug)]
struct Inner {
    /// The bytes queued here (`--max-queued-bytes`), the capacity in
    /// messages, and the drops.
    budget: QueueBudget,
    state: Mutex<State>,
}

/// Small while empty (boxed queue, 32-bit counts): every client has one.
#[derive(Debug, Default)]
struct State {
    /// `None` while empty and idle. Boxed on purpose: a word here instead of
    /// a `VecDeque`'s four, in every client's mailbox.
    #[allow(clippy::box_collection)]
    queue: Option<Box<VecDeque<Outbound>>>,
    /// Slots promised by [`Sender::try_reserve`] and not yet used.
    reserved: u32,
    /// The receiver waiting for a message.
    waker: Option<Waker>,
    /// The receiver is gone: nothing more is accepted.
    closed: bool,
}

impl State {
    fn len(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.len())
    }

    fn pop(&mut self) -> Option<Outbound> {
        self.queue.as_mut()?.pop_front()
    }

    /// Open, and a slot free beside those queued and promised.
    fn has_room(&self, capacity: u32) -> bool {
        !self.closed && self.len() + (self.reserved as usize) < capacity as usize
    }

    /// Queue `message`; the receiver's waker, to wake once the lock is gone.
    fn push(&mut self, message: Outbound) -> Option<Waker> {
        self.queue
            .get_or_insert_with(Box::default)
            .push_back(message);
        self.waker.take()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The messages [`Sender::try_send_all_within`] dropped, by the limit reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusals {
    /// `--max-queued-messages` reached, or the receiver is gone.
    pub full: u32,
    /// They would pass `--max-queued-bytes`.
    pub bytes: u32,
}

/// The publishers' side; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    inner: Arc<Inner>,
}

/// A slot taken in a mailbox: [`Permit::send`] cannot fail. Dropped unused,
/// it gives the slot back.
#[derive(Debug)]
pub(crate) struct Permit {
    inner: Arc<Inner>,
    used: bool,
}

impl Sender {
    pub(crate) fn budget(&self) -> &QueueBudget {
        &self.inner.budget
    }

    /// Messages queued now.
    pub(crate) fn queued(&self) -> usize {
        self.inner.lock().len()
    }

    /// Take a slot, or `None` when the mailbox is full or its receiver gone.
    pub(crate) fn try_reserve(&self) -> Option<Permit> {
        let mut state = self.inner.lock();
        if !state.has_room(self.inner.budget.capacity()) {
            return None;
        }
        state.reserved += 1;
        Some(Permit {
            inner: self.inner.clone(),
            used: false,
        })
    }

    /// Queue each of `messages` in order, charging its size
    /// ([`crate::routing::budget::queued_size`]) against `max_bytes` of the budget,
    /// all under one lock and with one wake-up: publishers on other cores
    /// take this mailbox's cache line once per batch, not twice per message.
    /// What does not fit is dropped and counted in the answer.
    pub(crate) fn try_send_all_within(
        &self,
        messages: impl IntoIterator<Item = Outbound>,
        max_bytes: u64,
    ) -> Refusals {
        self.send_all_within(messages.into_iter().map(|m| (m, None)), max_bytes)
    }

    /// [`Sender::try_send_all_within`], where a message that comes with a
    /// [`Permit`] of this mailbox takes its slot (and was charged when the
    /// slot was taken): it cannot be refused.
    pub(crate) fn send_all_within(
        &self,
        messages: impl IntoIterator<Item = (Outbound, Option<Permit>)>,
        max_bytes: u64,
    ) -> Refusals {
        let mut refusals = Refusals::default();
        let mut waker = None;
        {
            let mut state = self.inner.lock();
            for (message, permit) in messages {
                if let Some(mut permit) = permit {
                    debug_assert!(Arc::ptr_eq(&permit.inner, &self.inner));
                    permit.used = true;
                    state.reserved -= 1;
                    if !state.closed {
                        waker = state.push(message).or(waker);
                    }
                    continue;
                }
                if !state.has_room(self.inner.budget.capacity()) {
                    refusals.full += 1;
                    continue;
                }
                let size = crate::routing::budget::queued_size(&message.message);
                if !self.inner.budget.try_charge(size, max_bytes) {
                    refusals.bytes += 1;
                    continue;
                }
                waker = state.push(message).or(waker);
            }
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        refusals
    }
}

impl Permit {
    pub(crate) fn send(mut self, message: Outbound) {
        self.used = true;
        let waker = {
            let mut state = self.inner.lock();
            state.reserved -= 1;
            if state.closed {
                return;
            }
            state.push(message)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.used {
            self.inner.lock().reserved -= 1;
        }
    }
}

/// The connection's side.
#[derive(Debug)]
pub(crate) struct Receiver {
    inner: Arc<Inner>,
}

impl Receiver {
    pub(crate) fn budget(&self) -> &QueueBudget {
        &self.inner.budget
    }

    /// The next message; `None` once every sender is gone and it is empty.
    /// Cancel-safe: a message is taken only when it is returned.
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        poll_fn(|cx| {
            let mut state = self.inner.lock();
            if let Some(message) = state.pop() {
                return Poll::Ready(Some(message));
            }
            if Arc::strong_count(&self.inner) == 1 {
                return Poll::Ready(None);
            }
            Self::wait(&mut state, cx);
            Poll::Pending
        })
        .await
    }

    /// Ready when a message waits or every sender is gone; until then `cx`
    /// is woken by the next message. Takes nothing.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.inner.lock();
        if state.len() > 0 || Arc::strong_count(&self.inner) == 1 {
            return Poll::Ready(());
        }
        Self::wait(&mut state, cx);
        Poll::Pending
    }

    fn wait(state: &mut State, cx: &mut Context<'_>) {
        // Going idle: give the queue's memory back.
        state.queue = None;
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
    }

    /// Up to `max` waiting messages moved into `batch` (empty on entry) under
    /// one lock: the connection does not take the lock once per message while
    /// publishers on other threads push.
    pub(crate) fn try_recv_batch(&mut self, batch: &mut VecDeque<Outbound>, max: usize) {
        debug_assert!(batch.is_empty());
        let mut state = self.inner.lock();
        let Some(queue) = state.queue.as_mut() else {
            return;
        };
        if queue.len() <= max {
            // Swapped whole: the mailbox keeps the batch's spare room.
            std::mem::swap(&mut **queue, batch);
        } else {
            batch.extend(queue.drain(..max));
        }
    }

    /// A copy of what waits here, in order, taking nothing: what a parked
    /// session's snapshot holds besides its in-flight messages.
    pub(crate) fn waiting(&self) -> Vec<Outbound> {
        let state = self.inner.lock();
        state
            .queue
            .as_ref()
            .map_or_else(Vec::new, |queue| queue.iter().cloned().collect())
    }

    /// The next message if one is waiting.
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Option<Outbound> {
        self.inner.lock().pop()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.closed = true;
        state.queue = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::Message;
    use mqtt::QoS;

    fn outbound(n: u8) -> Outbound {
        Outbound {
            message: Arc::new(Message {
                topic: "t".into(),
                payload: bytes::Bytes::from(vec![n]),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: Default::default(),
                origin: Arc::from("o"),
                expires_at: None,
            }),
            qos: QoS::AtMostOnce,
            retain: false,
            subscription_ids: Default::default(),
            seq: None,
            receipt: None,
            position: 0,
        }
    }

    fn payload(o: &Outbound) -> u8 {
        o.message.payload[0]
    }

    /// Queue message `n` with no byte limit; whether it was queued.
    fn send(tx: &Sender, n: u8) -> bool {
        tx.try_send_all_within([outbound(n)], u64::MAX) == Refusals::default()
    }

    #[tokio::test]
    async fn a_batch_is_queued_in_order_within_the_count_and_the_bytes() {
        let (tx, mut rx) = mailbox(3);
        // Each message costs 2 bytes (a 1-byte topic and payload).
        let refusals = tx.try_send_all_within((1..=3).map(outbound), 5);
        assert_eq!(
            refusals,
            Refusals { full: 0, bytes: 1 },
            "2 + 2 + 2 passes 5"
        );
        assert_eq!(tx.budget().bytes(), 4, "a refusal charges nothing");
        let refusals = tx.try_send_all_within([outbound(4), outbound(5)], 100);
        assert_eq!(
            refusals,
            Refusals { full: 1, bytes: 0 },
            "three fill a mailbox of three"
        );
        let got: Vec<u8> = std::iter::from_fn(|| rx.try_recv())
            .map(|o| payload(&o))
            .collect();
        assert_eq!(got, [1, 2, 4]);
        drop(rx);
        let refusals = tx.try_send_all_within([outbound(6)], 100);
        assert_eq!(
            refusals.full, 1,
            "nothing is queued for a receiver that is gone"
        );
    }

    #[tokio::test]
    async fn messages_come_out_in_order_and_the_bound_holds() {
        let (tx, mut rx) = mailbox(2);
        let held = tx.try_reserve().expect("room");
        assert!(send(&tx, 1), "room");
        assert!(!send(&tx, 2), "a reserved slot counts");
        drop(held);
        assert!(send(&tx, 2), "the unused slot came back");
        assert_eq!(payload(&rx.recv().await.unwrap()), 1);
        assert_eq!(payload(&rx.try_recv().unwrap()), 2);
        assert!(rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_from_another_task() {
        let (tx, mut rx) = mailbox(8);
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.try_reserve().unwrap().send(outbound(7));
            tx
        });
        assert_eq!(payload(&rx.recv().await.unwrap()), 7);
        drop(sender.await.unwrap());
        assert!(rx.recv().await.is_none(), "every sender gone");
    }

    #[test]
    fn a_batch_takes_at_most_max_in_order_under_one_lock() {
        let (tx, mut rx) = mailbox(100);
        for n in 0..10 {
            assert!(send(&tx, n));
        }
        let mut batch = VecDeque::new();
        rx.try_recv_batch(&mut batch, 4);
        assert_eq!(batch.iter().map(payload).collect::<Vec<_>>(), [0, 1, 2, 3]);
        batch.clear();
        rx.try_recv_batch(&mut batch, 100);
        assert_eq!(
            batch.iter().map(payload).collect::<Vec<_>>(),
            [4, 5, 6, 7, 8, 9]
        );
        batch.clear();
        rx.try_recv_batch(&mut batch, 100);
        assert!(batch.is_empty());
        assert!(send(&tx, 42));
        assert_eq!(
            payload(&rx.try_recv().unwrap()),
            42,
            "the queue works after a swap"
        );
    }

    #[tokio::test]
    async fn an_idle_mailbox_holds_no_memory_and_a_closed_one_takes_nothing() {
        let (tx, mut rx) = mailbox(100);
        for n in 0..50 {
            assert!(send(&tx, n));
        }
        while rx.try_recv().is_some() {}
        let idle = tokio::time::timeout(std::time::Duration::from_millis(10), rx.recv()).await;
        assert!(idle.is_err());
        assert!(tx.inner.lock().queue.is_none());
        drop(rx);
        assert!(!send(&tx, 1));
    }
}
