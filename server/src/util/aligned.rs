//! The broker's allocator: the system's, except for cache-line-aligned blocks
//! (tokio's task cells and socket registrations are 128-byte aligned), which
//! come back to exact-size free lists.
//!
//! glibc serves a 128-aligned request by taking a chunk 144 bytes larger and
//! trimming it. A freed task cell is then too small for the next task cell,
//! which takes fresh memory, while the old one stays a hole until small
//! requests happen to fill it. Connections pass through short-lived tasks
//! (the handshake's, each wake-up of a dormant connection's), so those holes
//! added up: 2,700 of 656 to 784 bytes, 1.9 MB, at 10,000 idle connections,
//! a fifth of the broker's memory. Here a freed block waits on the list of its
//! size for the next block of that size.
//!
//! Blocks are kept for reuse until [`release_surplus`] gives back those that
//! sat unused since its last call. Without it what stayed was the peak of
//! tasks alive at once: a broadcast wakes every dormant connection, each
//! for a task of about 1 KB, and 20,000 connections kept 25 MB of task
//! cells after they were dormant again.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{Mutex, MutexGuard},
};

/// Use as `#[global_allocator]`.
pub struct Allocator;

/// The alignment handled here: tokio's cache-line padding on x86-64.
const LINE: usize = 128;
/// Size classes, one per multiple of [`LINE`] up to 4 KiB; larger blocks
/// (rare: a TLS connection's task) go to the system.
const CLASSES: usize = 32;

static FREE: FreeLists = FreeLists::new();

/// One free list per size class.
struct FreeLists([Mutex<List>; CLASSES]);

/// The free blocks of one class.
struct List {
    /// The address of the first block (0: empty); a free block's first
    /// word holds the next one's.
    head: usize,
    len: usize,
    /// The fewest blocks on the list since the last [`FreeLists::release`]:
    /// that many sat unused all along (the list is a stack, so which ones
    /// does not matter).
    low: usize,
}

fn class(layout: Layout) -> Option<usize> {
    (layout.align() == LINE && layout.size() > 0 && layout.size() <= CLASSES * LINE)
        .then(|| (layout.size() - 1) / LINE)
}

/// The layout every block of `class` is allocated with.
fn class_layout(class: usize) -> Layout {
    // SAFETY (of the unchecked constructor): a multiple of 128 up to 4 KiB, aligned to 128.
    unsafe { Layout::from_size_align_unchecked((class + 1) * LINE, LINE) }
}

/// Give back the blocks that sat unused on the free lists since the last
/// call (the first call only marks them): the surplus of a burst of tasks
/// once it is over, and none of the blocks a steady load keeps reusing.
/// Returns the bytes given to the system allocator (which keeps them until
/// `malloc_trim`, see [`super::trim`]).
pub fn release_surplus() -> usize {
    FREE.release()
}

impl FreeLists {
    const fn new() -> Self {
        FreeLists(
            [const {
                Mutex::new(List {
                    head: 0,
                    len: 0,
                    low: 0,
                })
            }; CLASSES],
        )
    }

    fn list(&self, class: usize) -> MutexGuard<'_, List> {
        // Nothing panics while a list is held.
        self.0[class]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A free block of `class`, if there is one.
    fn take(&self, class: usize) -> Option<*mut u8> {
        let mut list = self.list(class);
        if list.head == 0 {
            return None;
        }
        let block = list.head as *mut u8;
        // SAFETY: a block on the list holds the next one's address.
        list.head = unsafe { (block as *const usize).read() };
        list.len -= 1;
        list.low = list.low.min(list.len);
        Some(block)
    }

    /// # Safety
    /// `block` was allocated with `class_layout(class)` and is no longer used.
    unsafe fn put(&self, class: usize, block: *mut u8) {
        let mut list = self.list(class);
        (block as *mut usize).write(list.head);
        list.head = block as usize;
        list.len += 1;
    }

    fn release(&self) -> usize {
        (0..CLASSES).map(|class| self.release_class(class)).sum()
    }

    /// The whole list is taken out and walked unlocked (a task that needs
    /// a block meanwhile gets a fresh one); the blocks it keeps go back.
    fn release_class(&self, class: usize) -> usize {
        let (mut block, surplus) = {
            let mut list = self.list(class);
            let taken = (list.head, list.low);
            (list.head, list.len, list.low) = (0, 0, 0);
            taken
        };
        for _ in 0..surplus {
            // SAFETY: the first `low` blocks of the list (it has at least
            // `low`), each allocated with this class's layout and unused.
            unsafe {
                let next = (block as *const usize).read();
                System.dealloc(block as *mut u8, class_layout(class));
                block = next;
            }
        }
        let (head, mut tail, mut kept) = (block, block, 0);
        // SAFETY: the rest of the list, as above.
        unsafe {
            while tail != 0 {
                kept += 1;
                let next = (tail as *const usize).read();
                if next == 0 {
                    break;
                }
                tail = next;
            }
            let mut list = self.list(class);
            if kept > 0 {
                (tail as *mut usize).write(list.head);
                list.head = head;
                list.len += kept;
            }
            // Counting again from here.
            list.low = list.len;
        }
        surplus * class_layout(class).size()
    }
}

// SAFETY: blocks handed out are either the system's, for the layout asked, or
// blocks of the same size class and alignment given back earlier, each on one
// list at most and out of it while in use.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            return System.alloc(layout);
        };
        match FREE.take(class) {
            Some(block) => block,
            None => System.alloc(class_layout(class)),
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            return System.dealloc(block, layout);
        };
        FREE.put(class, block);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_none() {
            return System.alloc_zeroed(layout);
        }
        let block = self.alloc(layout);
        if !block.is_null() {
            std::ptr::write_bytes(block, 0, layout.size());
        }
        block
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if class(layout).is_none() && class(new).is_none() {
            return System.realloc(block, layout, new_size);
        }
        let moved = self.alloc(new);
        if !moved.is_null() {
            std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
            self.dealloc(block, layout);
        }
        moved
    }
}

/// glibc's fast bins up to their largest size (160 bytes, from 128): a
/// routed message (`Arc<Message>`, 128 bytes with its properties boxed) is
/// allocated by the publisher's worker and freed by the subscriber's, and a
/// fast-bin free does not take the allocating thread's arena lock. With the
/// lock, two workers contending on it were a QoS 0 fan-in's futex calls.
///
/// And blocks of [`MMAP_THRESHOLD`] or more always mapped on their own:
/// glibc's threshold otherwise rises to the size of the largest mapped block
/// freed (up to 32 MiB). A broadcast to 10,000 dormant connections frees
/// one (its list of subscribers, 720 KB); after that, such blocks came from
/// the heap among the wake-ups' buffers, and what the wake-ups left between
/// them stayed resident: 70 to 310 bytes per connection after each
/// broadcast and ping sweep, against 60 to 100 with the threshold fixed
/// (`kite-bench connections`; the issue #20 note has the runs).
pub fn tune_system_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc parameters; 160 is M_MXFAST's
    // documented maximum, and any threshold is valid.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 160);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// glibc's own starting value, kept fixed (see [`tune_system_allocator`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_aligned_block_is_reused_for_the_same_class_only() {
        let a = Allocator;
        let cell = Layout::from_size_align(640, 128).unwrap();
        let other = Layout::from_size_align(1024, 128).unwrap();
        unsafe {
            let first = a.alloc(cell);
            assert_eq!(first as usize % 128, 0);
            first.write_bytes(0xAB, 640);
            a.dealloc(first, cell);
            let bigger = a.alloc(other);
            assert_ne!(bigger, first, "another class");
            // 513 to 640 bytes share a class.
            let again = a.alloc(Layout::from_size_align(600, 128).unwrap());
            assert_eq!(again, first, "the freed block of the same class");
            a.dealloc(again, Layout::from_size_align(600, 128).unwrap());
            a.dealloc(bigger, other);
            let zeroed = a.alloc_zeroed(cell);
            assert!(std::slice::from_raw_parts(zeroed, 640)
                .iter()
                .all(|&b| b == 0));
            a.dealloc(zeroed, cell);
        }
    }

    #[test]
    fn blocks_unused_since_the_last_release_go_back_to_the_system() {
        let lists = FreeLists::new();
        let class = 7;
        let size = class_layout(class).size();
        let lengths = |lists: &FreeLists| {
            let list = lists.list(class);
            (list.len, list.low)
        };
        unsafe {
            // A burst of ten tasks is over.
            for _ in 0..10 {
                lists.put(class, System.alloc(class_layout(class)));
            }
            assert_eq!(
                lists.release(),
                0,
                "freed just now: they may be needed again"
            );
            assert_eq!(lengths(&lists), (10, 10));
            // The steady load needs three at once.
            let busy: Vec<_> = (0..3).map(|_| lists.take(class).unwrap()).collect();
            for block in busy {
                lists.put(class, block);
            }
            assert_eq!(lists.release(), 7 * size, "seven were never taken");
            assert_eq!(lengths(&lists), (3, 3));
            // The three kept are still a valid list.
            let kept: Vec<_> = (0..3).map(|_| lists.take(class).unwrap()).collect();
            assert!(lists.take(class).is_none());
            for block in kept {
                lists.put(class, block);
            }
            assert_eq!(lists.release(), 0, "all three were used");
            assert_eq!(lists.release(), 3 * size, "then idle");
            assert_eq!(lengths(&lists), (0, 0));
            assert!(lists.take(class).is_none());
        }
    }

    #[test]
    fn ordinary_blocks_go_to_the_system_and_keep_their_contents_on_realloc() {
        let a = Allocator;
        let small = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let p = a.alloc(small);
            p.write_bytes(7, 24);
            let q = a.realloc(p, small, 4000);
            assert!(std::slice::from_raw_parts(q, 24).iter().all(|&b| b == 7));
            a.dealloc(q, Layout::from_size_align(4000, 8).unwrap());
            let line = Layout::from_size_align(200, 128).unwrap();
            let r = a.alloc(line);
            r.write_bytes(9, 200);
            let s = a.realloc(r, line, 300);
            assert_eq!(s as usize % 128, 0);
            assert!(std::slice::from_raw_parts(s, 200).iter().all(|&b| b == 9));
            a.dealloc(s, Layout::from_size_align(300, 128).unwrap());
        }
    }
}
