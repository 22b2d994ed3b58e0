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
//! size for the next block of that size. Blocks are kept for reuse, not given
//! back: what stays is the peak of tasks alive at once, as it was with glibc.

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

/// Each class's free list: the address of its first block (0: empty); a
/// free block's first word holds the next one's.
static FREE: [Mutex<usize>; CLASSES] = [const { Mutex::new(0) }; CLASSES];

fn class(layout: Layout) -> Option<usize> {
    (layout.align() == LINE && layout.size() > 0 && layout.size() <= CLASSES * LINE)
        .then(|| (layout.size() - 1) / LINE)
}

fn list(class: usize) -> MutexGuard<'static, usize> {
    // Nothing panics while a list is held.
    FREE[class]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// SAFETY: blocks handed out are either the system's, for the layout asked, or
// blocks of the same size class and alignment given back earlier, each on one
// list at most and out of it while in use.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            return System.alloc(layout);
        };
        {
            let mut head = list(class);
            if *head != 0 {
                let block = *head as *mut u8;
                *head = (block as *const usize).read();
                return block;
            }
        }
        System.alloc(Layout::from_size_align_unchecked((class + 1) * LINE, LINE))
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            return System.dealloc(block, layout);
        };
        let mut head = list(class);
        (block as *mut usize).write(*head);
        *head = block as usize;
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
pub fn tune_system_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; 160 is its documented maximum.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 160);
    }
}

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
