//! Readiness of dormant connections' sockets, watched outside tokio.
//!
//! tokio keeps a 256-byte, cache-aligned record for every socket on its
//! reactor. A dormant connection (see [`crate::net::dormant`]) takes its socket
//! off the reactor and parks it here: one epoll instance, one thread, and a
//! 24-byte slot per parked socket holding the waker to call when the socket
//! becomes readable (or closes). Linux only, as the broker is; where the
//! lot cannot start, sockets simply stay on tokio's reactor.
//!
//! Each socket is watched once (`EPOLLONESHOT`). A slot is looked up by index
//! and generation under the lock, so a readiness event that races with the
//! connection waking for another reason finds an empty or reused slot, never
//! a freed waker.

use std::{
    io,
    net::TcpStream,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    sync::{Mutex, MutexGuard, Once, OnceLock},
    task::Waker,
};

/// A socket off tokio's reactor, watched by the lot until [`ParkedSocket::leave`]
/// or drop.
#[derive(Debug, Default)]
pub(crate) struct ParkedSocket {
    stream: Option<TcpStream>,
    key: u64,
}

impl ParkedSocket {
    /// Watch `stream`: `waker` is woken once it is readable or closed.
    /// Gives the stream back when the lot cannot watch it.
    pub(crate) fn park(stream: TcpStream, waker: &Waker) -> Result<ParkedSocket, TcpStream> {
        let Some(lot) = lot() else {
            return Err(stream);
        };
        match lot.watch(stream.as_raw_fd(), waker) {
            Ok(key) => Ok(ParkedSocket {
                stream: Some(stream),
                key,
            }),
            Err(err) => {
                tracing::debug!(%err, "socket not parked");
                Err(stream)
            }
        }
    }

    /// Stop watching; the stream, unless it was lost.
    pub(crate) fn leave(mut self) -> Option<TcpStream> {
        self.unwatch();
        self.stream.take()
    }

    fn unwatch(&mut self) {
        if let (Some(stream), Some(lot)) = (&self.stream, lot()) {
            lot.unwatch(stream.as_raw_fd(), self.key);
        }
    }
}

impl Drop for ParkedSocket {
    fn drop(&mut self) {
        self.unwatch();
    }
}

struct Lot {
    epoll: OwnedFd,
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Slot>,
    free: Vec<u32>,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    /// Taken by the first readiness event.
    waker: Option<Waker>,
}

fn key(index: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(index)
}

fn split(key: u64) -> (usize, u32) {
    ((key & u64::from(u32::MAX)) as usize, (key >> 32) as u32)
}

/// The lot, started on first use; `None` if epoll is unavailable.
fn lot() -> Option<&'static Lot> {
    static LOT: OnceLock<Option<Lot>> = OnceLock::new();
    static THREAD: Once = Once::new();
    let lot = LOT
        .get_or_init(|| match Lot::open() {
            Ok(lot) => Some(lot),
            Err(err) => {
                tracing::warn!(%err, "dormant sockets stay on tokio's reactor: no epoll");
                None
            }
        })
        .as_ref()?;
    THREAD.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("kite-parking".into())
            .spawn(move || lot.run());
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the parking thread: dormant sockets will not wake");
        }
    });
    Some(lot)
}

impl Lot {
    fn open() -> io::Result<Lot> {
        // SAFETY: epoll_create1 has no memory preconditions; the fd is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Lot {
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            slots: Mutex::new(Slots::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Every change under this lock is a plain assignment or push.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn watch(&self, fd: RawFd, waker: &Waker) -> io::Result<u64> {
        let key = {
            let mut slots = self.lock();
            let index = match slots.free.pop() {
                Some(index) => index,
                None => {
                    slots.entries.push(Slot::default());
                    (slots.entries.len() - 1) as u32
                }
            };
            let slot = &mut slots.entries[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.waker = Some(waker.clone());
            key(index, slot.generation)
        };
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: key,
        };
        // SAFETY: valid epoll fd, and `event` outlives the call.
        let added =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if added < 0 {
            let err = io::Error::last_os_error();
            self.free(key);
            return Err(err);
        }
        Ok(key)
    }

    fn unwatch(&self, fd: RawFd, key: u64) {
        // SAFETY: valid epoll fd; a NULL event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
        self.free(key);
    }

    fn free(&self, key: u64) {
        let (index, generation) = split(key);
        let mut slots = self.lock();
        if slots
            .entries
            .get(index)
            .is_some_and(|slot| slot.generation == generation)
        {
            slots.entries[index].waker = None;
            slots.free.push(index as u32);
        }
    }

    /// The waker of `key`, if its slot still waits.
    fn take(&self, key: u64) -> Option<Waker> {
        let (index, generation) = split(key);
        let mut slots = self.lock();
        let slot = slots.entries.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.waker.take()
    }

    fn run(&self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            // SAFETY: `events` has room for the number of events asked for.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    -1,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(%err, "the parking thread stops: dormant sockets will not wake");
                return;
            }
            for event in &events[..n as usize] {
                if let Some(waker) = self.take(event.u64) {
                    waker.wake();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::Write,
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::Wake,
        time::{Duration, Instant},
    };

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (client, server)
    }

    fn wait_for(count: &Count, n: usize) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if count.0.load(Ordering::SeqCst) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_parked_socket_wakes_once_when_data_arrives_and_comes_back() {
        let (mut client, server) = pair();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let parked = ParkedSocket::park(server, &waker).expect("parked");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "nothing to read yet");
        client.write_all(b"x").unwrap();
        client.write_all(b"y").unwrap();
        assert!(wait_for(&count, 1), "woken by the data");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "once only");
        let mut stream = parked.leave().expect("the stream comes back");
        let mut buf = [0u8; 2];
        std::io::Read::read_exact(&mut stream, &mut buf).unwrap();
        assert_eq!(&buf, b"xy");
    }

    #[test]
    fn a_socket_that_left_does_not_wake_and_a_closed_peer_does() {
        let (client, server) = pair();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let parked = ParkedSocket::park(server, &waker).expect("parked");
        let server = parked.leave().expect("stream");
        let parked_again = ParkedSocket::park(server, &waker).expect("parked again");
        drop(client);
        assert!(wait_for(&count, 1), "the peer's close wakes");
        drop(parked_again);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
