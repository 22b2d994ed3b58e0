//! Mid-size blocks (385 bytes to 8 KiB) from regions of their own, given
//! back to the system a slab at a time once a burst of them is over.
//!
//! Those sizes are a connection's temporaries: its task's future (1 to
//! 6 KB), its read and write buffers (1 and 4 KB), the handshake's. A
//! connection's lasting state is all smaller (its state 272 bytes, its kick
//! 136, its mailbox 72). In glibc's heaps the two were interleaved: a wave
//! of 512 connections opened at once, or a broadcast waking 20,000 dormant
//! ones, freed its temporaries among the lasting state allocated meanwhile,
//! and the pages they shared stayed resident (after a broadcast and a ping
//! sweep to 19,968 idle connections, 1.2 MB that neither heap held any
//! more; 1.3 to 1.8 MB more for the first waves of connections). Here
//! each size class takes its blocks from 64 KiB slabs of its own address
//! range: a slab holds only blocks of one size, and one left empty for a
//! while ([`release`]) goes back to the system whole. Each thread keeps a
//! few free blocks per class of its own (a steady load takes no lock for
//! most of its blocks).

use std::{
    alloc::Layout,
    cell::Cell,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex, MutexGuard,
    },
};

/// Smallest request served here; below it, lasting state (see above).
const MIN: usize = 385;
/// Class sizes step by this much.
const STEP: usize = 512;
/// Up to 512, 1,024, ... 8,192 bytes (each block [`ALIGN`] more).
const CLASSES: usize = 16;
/// The unit given back to the system.
const SLAB: usize = 64 * 1024;
/// Address space each class reserves (pages are used only once touched):
/// room for 16,384 slabs. A class that fills it serves from the system.
const REGION: usize = 1 << 30;
const SLABS: usize = REGION / SLAB;

/// The class of a layout served here, if any.
pub(super) fn class(layout: Layout) -> Option<usize> {
    (layout.size() >= MIN && layout.size() <= CLASSES * STEP && layout.align() <= ALIGN)
        .then(|| (layout.size() - 1) / STEP)
}

/// The alignment served (tokio's task cells ask for 128). A class's blocks
/// also lie this much more than its size apart, so that two blocks of a
/// class are seldom a multiple of 4 KiB apart: a copy between two such (a
/// read buffer's bytes into a write buffer) stalls on the CPU's 4 KiB
/// aliasing of loads and stores. Spaced by their size alone, QoS 1 fan-in
/// of 1 KB messages ran 15 % slower than on glibc; spaced so, within 7 %
/// (three interleaved rounds each, a noisy measure).
const ALIGN: usize = 128;

fn block_size(class: usize) -> usize {
    (class + 1) * STEP + ALIGN
}

static CLASS: [Mutex<Class>; CLASSES] = [const { Mutex::new(Class::new()) }; CLASSES];

fn lock(class: usize) -> MutexGuard<'static, Class> {
    // Nothing panics while a class is held.
    CLASS[class]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A block of `class`, or `None` when its region cannot be had or is full
/// (the caller then asks the system).
pub(super) fn alloc(class: usize) -> Option<*mut u8> {
    if let Ok(Some(block)) = LOCAL.try_with(|local| local.pop(class)) {
        return Some(block);
    }
    let size = block_size(class);
    let mut global = lock(class);
    let block = global.take(size)?;
    if BASES[class].load(Ordering::Relaxed) == 0 {
        BASES[class].store(global.base, Ordering::Release);
    }
    // Take a batch for this thread's cache while the lock is held.
    let _ = LOCAL.try_with(|local| {
        for _ in 1..batch(class) {
            match global.take(size) {
                Some(more) => local.push(class, more),
                None => break,
            }
        }
    });
    Some(block)
}

/// Gives `block` back if it came from here; false if it is the system's.
///
/// # Safety
/// `block` was allocated (by [`alloc`] or the system) for a layout of
/// `class` and is no longer used.
pub(super) unsafe fn dealloc(class: usize, block: *mut u8) -> bool {
    if !ours(class, block as usize) {
        return false;
    }
    let full = LOCAL.try_with(|local| {
        local.push(class, block);
        local.len[class].get() > 2 * batch(class)
    });
    match full {
        Ok(false) => {}
        Ok(true) => {
            let mut global = lock(class);
            let _ = LOCAL.try_with(|local| {
                for _ in 0..batch(class) {
                    if let Some(block) = local.pop(class) {
                        global.put(block);
                    }
                }
            });
        }
        // The thread is exiting: straight to the class.
        Err(_) => {
            lock(class).put(block);
        }
    }
    true
}

/// Blocks moved between a thread's cache and its class at once: 16 KiB
/// of them, at least 1 and at most 32.
fn batch(class: usize) -> usize {
    (16 * 1024 / block_size(class)).clamp(1, 32)
}

/// Where each class's region starts (0: none yet), readable without its
/// lock: a block can only be ours if its region existed when it was
/// allocated.
static BASES: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

fn ours(class: usize, block: usize) -> bool {
    let base = BASES[class].load(Ordering::Acquire);
    base > 1 && block >= base && block < base + REGION
}

thread_local! {
    /// A few free blocks per class for this thread alone, so that a steady
    /// load (a worker's buffers, a message's payload freed by another
    /// worker) mostly takes no lock: with one lock per block, QoS 1 fan-in
    /// of 1 KB messages spent 25 % more CPU per message than with glibc's
    /// per-thread caches.
    static LOCAL: Local = const { Local::new() };
}

/// A thread's cached blocks: a stack per class, linked through the
/// blocks' first word. Counted as in use by their slabs.
struct Local {
    head: [Cell<usize>; CLASSES],
    len: [Cell<usize>; CLASSES],
}

impl Local {
    const fn new() -> Local {
        Local {
            head: [const { Cell::new(0) }; CLASSES],
            len: [const { Cell::new(0) }; CLASSES],
        }
    }

    fn pop(&self, class: usize) -> Option<*mut u8> {
        let block = self.head[class].get();
        if block == 0 {
            return None;
        }
        // SAFETY: a cached block holds the next one's address.
        self.head[class].set(unsafe { (block as *const usize).read() });
        self.len[class].set(self.len[class].get() - 1);
        Some(block as *mut u8)
    }

    fn push(&self, class: usize, block: *mut u8) {
        // SAFETY: a free block of ours: its first word is unused.
        unsafe { (block as *mut usize).write(self.head[class].get()) };
        self.head[class].set(block as usize);
        self.len[class].set(self.len[class].get() + 1);
    }
}

impl Drop for Local {
    /// A thread that ends gives its blocks back.
    fn drop(&mut self) {
        for class in 0..CLASSES {
            if self.head[class].get() != 0 {
                let mut global = lock(class);
                while let Some(block) = self.pop(class) {
                    global.put(block);
                }
            }
        }
    }
}

/// Gives the system the slabs that were empty at the last call and still
/// are (the first call only marks them); returns their bytes.
pub(crate) fn release() -> usize {
    (0..CLASSES)
        .map(|class| lock(class).release(block_size(class)))
        .sum()
}

/// What a slab is doing.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    /// Never carved, or given back to the system: on no list.
    Fresh,
    /// Its blocks are being handed out (it is or was the carving slab).
    Carved,
    /// Given back and waiting on the empty list to be carved again.
    Empty,
}

/// One slab's bookkeeping, in a side table of the region's own.
#[derive(Clone, Copy)]
struct Meta {
    /// Blocks handed out and not given back.
    live: u16,
    /// Empty at the last [`release`] already.
    idle: bool,
    state: State,
    /// The next slab on the empty list (`u32::MAX`: none).
    next: u32,
}

struct Class {
    /// Start of the region (SLAB-aligned); 0 until reserved, 1 if that failed.
    base: usize,
    /// The side table, one [`Meta`] per slab.
    meta: *mut Meta,
    /// Free blocks: a stack whose links are in the blocks' first word.
    free: usize,
    /// Where the carving slab's next block starts, and where its blocks end.
    cursor: usize,
    end: usize,
    /// Slabs ever carved (the next new one's index).
    used: usize,
    /// Slabs given back, for carving again (`u32::MAX`: none).
    empty: u32,
}

// SAFETY: the raw pointers are into the class's own mappings, used only
// with the class's lock held.
unsafe impl Send for Class {}

impl Class {
    const fn new() -> Class {
        Class {
            base: 0,
            meta: std::ptr::null_mut(),
            free: 0,
            cursor: 0,
            end: 0,
            used: 0,
            empty: u32::MAX,
        }
    }

    fn reserve(&mut self) -> bool {
        if self.base == 0 {
            self.base = 1;
            if let (Some(region), Some(meta)) = (
                map(REGION + SLAB),
                map(SLABS * std::mem::size_of::<Meta>()),
            ) {
                self.base = (region as usize).next_multiple_of(SLAB);
                // Fresh mappings read as zeroes: live 0, not idle, Fresh.
                self.meta = meta.cast();
            }
        }
        self.base > 1
    }

    fn slab_of(&self, block: usize) -> Option<usize> {
        (self.base > 1 && block >= self.base && block < self.base + REGION)
            .then(|| (block - self.base) / SLAB)
    }

    fn meta(&mut self, slab: usize) -> &mut Meta {
        // SAFETY: slab < SLABS (from slab_of or a count below SLABS), in
        // the table mapped in reserve.
        unsafe { &mut *self.meta.add(slab) }
    }

    fn take(&mut self, size: usize) -> Option<*mut u8> {
        let block = if self.free != 0 {
            let block = self.free;
            // SAFETY: a free block holds the next one's address.
            self.free = unsafe { (block as *const usize).read() };
            block
        } else {
            if self.cursor + size > self.end && !self.next_slab(size) {
                return None;
            }
            let block = self.cursor;
            self.cursor += size;
            block
        };
        let slab = self.slab_of(block)?;
        let meta = self.meta(slab);
        meta.live += 1;
        meta.idle = false;
        Some(block as *mut u8)
    }

    /// Makes a slab (an emptied one, else a new one) the carving slab.
    fn next_slab(&mut self, size: usize) -> bool {
        if !self.reserve() {
            return false;
        }
        let slab = if self.empty != u32::MAX {
            let slab = self.empty as usize;
            self.empty = self.meta(slab).next;
            slab
        } else if self.used < SLABS {
            self.used += 1;
            self.used - 1
        } else {
            return false;
        };
        self.meta(slab).state = State::Carved;
        self.cursor = self.base + slab * SLAB;
        self.end = self.cursor + SLAB / size * size;
        true
    }

    fn put(&mut self, block: *mut u8) -> bool {
        let Some(slab) = self.slab_of(block as usize) else {
            return false;
        };
        // SAFETY: the block is ours and unused: its first word is free.
        unsafe { (block as *mut usize).write(self.free) };
        self.free = block as usize;
        self.meta(slab).live -= 1;
        true
    }

    fn release(&mut self, size: usize) -> usize {
        let mut going = 0;
        for slab in 0..self.used {
            let meta = self.meta(slab);
            if meta.state != State::Carved || meta.live != 0 {
                continue;
            }
            if meta.idle {
                meta.state = State::Fresh;
                going += 1;
            } else {
                meta.idle = true;
            }
        }
        if going == 0 {
            return 0;
        }
        // Unlink the going slabs' blocks from the free stack.
        let (mut kept, mut tail, mut block) = (0, 0usize, self.free);
        while block != 0 {
            // SAFETY: blocks on the stack hold the next one's address.
            let next = unsafe { (block as *const usize).read() };
            let slab = self.slab_of(block).expect("a block of this region");
            if self.meta(slab).state != State::Fresh {
                if tail == 0 {
                    kept = block;
                } else {
                    // SAFETY: tail is a free block of ours.
                    unsafe { (tail as *mut usize).write(block) };
                }
                tail = block;
            }
            block = next;
        }
        if tail != 0 {
            // SAFETY: as above.
            unsafe { (tail as *mut usize).write(0) };
        }
        self.free = kept;
        for slab in 0..self.used {
            if self.meta(slab).state != State::Fresh {
                continue;
            }
            let start = self.base + slab * SLAB;
            if (start..start + SLAB).contains(&self.cursor) {
                (self.cursor, self.end) = (0, 0);
            }
            unmap_pages(start, SLAB);
            let next = self.empty;
            let meta = self.meta(slab);
            (meta.state, meta.idle, meta.next) = (State::Empty, false, next);
            self.empty = slab as u32;
        }
        going * (SLAB / size * size)
    }
}

/// `len` bytes of fresh address space, read-write, no swap reserved.
fn map(len: usize) -> Option<*mut u8> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a new private anonymous mapping; no existing memory changes.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED).then_some(p.cast())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = len;
        None
    }
}

/// The pages go back to the system; the range stays mapped and reads as
/// zeroes when next touched.
fn unmap_pages(start: usize, len: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: a whole slab of our region with no block in use or listed.
    unsafe {
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn resident(start: usize) -> bool {
        let mut v = 0u8;
        // SAFETY: mincore on one page of our region into one byte.
        let page = start & !4095;
        unsafe { libc::mincore(page as *mut libc::c_void, 4096, &mut v) };
        v & 1 == 1
    }

    #[test]
    fn a_slab_empty_since_the_last_release_goes_back_and_is_carved_again() {
        // A class of its own so that other tests' blocks do not mix in.
        let mut class = Class::new();
        let size = block_size(3);
        let per_slab = SLAB / size;
        // A burst: three slabs' worth, then one block that lasts.
        let burst: Vec<_> = (0..3 * per_slab)
            .map(|_| class.take(size).unwrap())
            .collect();
        for &b in &burst {
            // SAFETY: blocks of `size` bytes just handed out.
            unsafe { b.write_bytes(0xAB, size) };
        }
        let lasting = class.take(size).unwrap();
        // SAFETY: as above.
        unsafe { lasting.write_bytes(0xCD, size) };
        assert!(resident(burst[0] as usize));
        for &b in &burst {
            assert!(class.put(b));
        }
        assert_eq!(class.release(size), 0, "empty just now: only marked");
        assert_eq!(
            class.release(size),
            3 * per_slab * size,
            "the three burst slabs; not the lasting block's"
        );
        assert!(!resident(burst[0] as usize), "given back to the system");
        assert!(resident(lasting as usize));
        // The free stack kept only the lasting slab's free blocks, and the
        // released slabs are carved again before new ones.
        let mut again: Vec<_> = (0..3 * per_slab)
            .map(|_| class.take(size).unwrap() as usize)
            .collect();
        let mut before: Vec<_> = burst.iter().map(|&b| b as usize).collect();
        again.sort();
        before.sort();
        let reused = again.iter().filter(|b| before.binary_search(b).is_ok()).count();
        assert!(reused >= 2 * per_slab, "{reused} of the old blocks reused");
        assert!(class.used <= 5, "{} slabs", class.used);
        assert!(class.put(lasting));
    }

    #[test]
    fn blocks_are_aligned_and_foreign_blocks_are_refused() {
        let mut class = Class::new();
        let size = block_size(0);
        let a = class.take(size).unwrap();
        let b = class.take(size).unwrap();
        assert_eq!(a as usize % ALIGN, 0);
        assert_eq!(b as usize - a as usize, size);
        let mut outside = [0usize; 64];
        assert!(!class.put(outside.as_mut_ptr().cast()), "not ours");
        assert!(class.put(a) && class.put(b));
        assert_eq!(class.take(size).unwrap(), b, "last freed, first reused");
    }

    #[test]
    fn classes_cover_385_bytes_to_8_kib_aligned_up_to_512() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class(l(384, 8)), None);
        assert_eq!(class(l(385, 8)), Some(0));
        assert_eq!(class(l(512, 128)), Some(0));
        assert_eq!(class(l(513, 8)), Some(1));
        assert_eq!(class(l(8192, 8)), Some(15));
        assert_eq!(class(l(8193, 8)), None);
        assert_eq!(class(l(1024, 4096)), None);
    }
}
