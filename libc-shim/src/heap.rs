//! The runtime's allocator: a fixed arena in linear memory (on wasm32 from the linker's
//! `__heap_base` to `Layout::heap_end`, below the filesystem image and the guest window, so the
//! runtime never grows memory into the guest's addresses).
//!
//! A size-class allocator, written here rather than taken from a crate: every block is a power
//! of two (16 B .. 2 GiB) placed at a multiple of its size (capped at 64 KiB), freed blocks go on
//! their class's free list and are reused first, new blocks come from a bump pointer. That is
//! O(1) per call and about 80 lines. The runtime's allocations suit it: few and long-lived (fd
//! table, overlay inodes, directory listings) or growing by doubling (`Vec`s holding overlay
//! file contents), which land exactly on the classes; the cost is up to 2x internal waste and
//! memory is never returned, which an arena of fixed size does not need. Blocks are never split
//! or merged, so there is no fragmentation bookkeeping to get wrong.

use core::alloc::Layout;

const MIN_CLASS: u32 = 4; // 16 bytes
const CLASSES: usize = 32;
const MAX_PLACEMENT_ALIGN: usize = 1 << 16;

/// The allocator state over `[next, end)`.
#[derive(Debug)]
pub struct Arena {
    next: usize,
    end: usize,
    /// Heads of the free lists, linked through each free block's first word.
    free: [usize; CLASSES],
}

/// The class (log2 of the block size) for a layout.
fn class(layout: Layout) -> Option<u32> {
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    let c = size.checked_next_power_of_two()?.trailing_zeros();
    ((c as usize) < CLASSES).then_some(c)
}

impl Arena {
    /// An arena over `[start, end)`.
    pub const fn new(start: usize, end: usize) -> Arena {
        Arena {
            next: start,
            end,
            free: [0; CLASSES],
        }
    }

    /// Whether the arena has been given memory.
    pub fn is_set(&self) -> bool {
        self.end != 0
    }

    /// A block for `layout`, or null.
    ///
    /// # Safety
    /// The arena's range must be memory the caller owns, unused by anything else.
    pub unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            return core::ptr::null_mut();
        };
        let head = self.free[c as usize];
        if head != 0 {
            // SAFETY: `head` is a free block of this class inside the arena; its first word holds
            // the next free block (written by `dealloc`).
            self.free[c as usize] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << c;
        let align = size.min(MAX_PLACEMENT_ALIGN).max(layout.align());
        let Some(at) = self.next.checked_add(align - 1).map(|v| v & !(align - 1)) else {
            return core::ptr::null_mut();
        };
        match at.checked_add(size) {
            Some(end) if end <= self.end => {
                self.next = end;
                at as *mut u8
            }
            _ => core::ptr::null_mut(),
        }
    }

    /// Returns a block to its class's free list.
    ///
    /// # Safety
    /// `ptr` must come from `alloc` of this arena with the same `layout`, and not be used again.
    pub unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else { return };
        // SAFETY: the block is at least 16 bytes, aligned, and now free: its first word is ours.
        unsafe { *(ptr as *mut usize) = self.free[c as usize] };
        self.free[c as usize] = ptr as usize;
    }

    /// Whether a block allocated for `old` can hold `new_size` bytes in place.
    pub fn fits(old: Layout, new_size: usize) -> bool {
        match (
            class(old),
            Layout::from_size_align(new_size, old.align())
                .ok()
                .and_then(class),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod global {
    use super::Arena;
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    unsafe extern "C" {
        /// The end of the runtime's static data and stack, from wasm-ld.
        static __heap_base: u8;
    }

    struct Heap(UnsafeCell<Arena>);

    // SAFETY: the runtime is single-threaded (wasm32 without the threads proposal), so the cell
    // is never accessed concurrently.
    unsafe impl Sync for Heap {}

    #[global_allocator]
    static HEAP: Heap = Heap(UnsafeCell::new(Arena::new(0, 0)));

    impl Heap {
        /// The arena, set up on first use from `__heap_base` and the composed layout.
        fn arena(&self) -> &mut Arena {
            // SAFETY: single-threaded (see `Sync`), and no caller holds the reference across
            // another call.
            let a = unsafe { &mut *self.0.get() };
            if !a.is_set() {
                let start = &raw const __heap_base as usize;
                // SAFETY: a plain read of the exported static; volatile because `compose`
                // overwrites its bytes after compilation.
                let layout =
                    unsafe { core::ptr::read_volatile(&raw const crate::layout::OCI2WASM_LAYOUT) };
                let end = if layout.magic == crate::layout::MAGIC && layout.heap_end != 0 {
                    layout.heap_end as usize
                } else {
                    core::arch::wasm32::memory_size(0) * 65536
                };
                *a = Arena::new(start, end);
            }
            a
        }
    }

    // SAFETY: `Arena` hands out disjoint, aligned blocks of at least the requested size from
    // memory nothing else uses (between `__heap_base` and `heap_end`).
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the arena's range is the runtime heap, owned by this allocator.
            unsafe { self.arena().alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded from the caller's contract.
            unsafe { self.arena().dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if Arena::fits(layout, new_size) {
                return ptr;
            }
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return core::ptr::null_mut();
            };
            // SAFETY: a fresh block of `new_size` bytes; the old one is valid for `layout.size()`.
            unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }

    /// The canonical ABI's allocation entry point, exported so that the p1 adapter and
    /// canonical-ABI lowering allocate from the runtime heap rather than growing memory into the
    /// guest window.
    ///
    /// # Safety
    /// As for `realloc`: `old` is null with `old_size == 0`, or a block from this function.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn cabi_realloc(
        old: *mut u8,
        old_size: usize,
        align: usize,
        new_size: usize,
    ) -> *mut u8 {
        let Ok(layout) = Layout::from_size_align(old_size, align) else {
            core::arch::wasm32::unreachable()
        };
        let ptr = if old_size == 0 {
            if new_size == 0 {
                return align as *mut u8;
            }
            let Ok(l) = Layout::from_size_align(new_size, align) else {
                core::arch::wasm32::unreachable()
            };
            // SAFETY: a non-zero-size layout.
            unsafe { HEAP.alloc(l) }
        } else {
            // SAFETY: forwarded from the caller's contract.
            unsafe { HEAP.realloc(old, layout, new_size) }
        };
        if ptr.is_null() {
            core::arch::wasm32::unreachable();
        }
        ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn blocks_are_aligned_disjoint_and_reused() {
        let mut backing = vec![0u64; 1 << 16];
        let start = backing.as_mut_ptr() as usize;
        let mut a = Arena::new(start, start + (1 << 19));
        let l = |s, al| Layout::from_size_align(s, al).unwrap();
        // SAFETY: the arena covers `backing`, which nothing else touches.
        unsafe {
            let p = a.alloc(l(24, 8));
            let q = a.alloc(l(24, 8));
            assert_eq!(q as usize - p as usize, 32);
            let big = a.alloc(l(5000, 4096));
            assert_eq!(big as usize % 4096, 0);
            a.dealloc(p, l(24, 8));
            assert_eq!(a.alloc(l(30, 8)), p, "freed block reused by its class");
            assert!(a.alloc(l(1 << 20, 8)).is_null(), "past the arena");
            assert!(Arena::fits(l(24, 8), 32) && !Arena::fits(l(24, 8), 33));
        }
    }
}
