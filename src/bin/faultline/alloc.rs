//! The binary's allocator: mimalloc, called the way its C API is fastest.
//!
//! A run allocates and frees millions of small objects (messages, events, task futures);
//! glibc's malloc spent a fifth of the simulator's time on them. The `mimalloc` crate's
//! `GlobalAlloc` sends every request through `mi_malloc_aligned`, whose fast path only
//! covers blocks of up to 1 KiB with a free block at hand; the rest (a simulated call's
//! task futures are 1-3 KiB) go to mimalloc's generic aligned path, which, unless the
//! rounded size is a power of two, over-allocates by the alignment and marks the page as
//! holding interior pointers (mimalloc v3 `src/alloc-aligned.c`,
//! `mi_malloc_is_naturally_aligned`; reported upstream as purpleprotocol/mimalloc_rust#170).
//! A reference seed made 111,642 such over-allocations. Plain `mi_malloc` already returns
//! what those requests need: its size classes are multiples of 8 bytes, 16-grained above
//! 64, and a page's first block is 16-aligned (`MI_PAGE_MIN_START_BLOCK_ALIGN`), so any
//! request whose size is a multiple of an alignment of at most 16 (every Rust type's
//! layout) is aligned. Only larger alignments take the aligned calls.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// `MI_MAX_ALIGN_SIZE`: the alignment plain `mi_malloc` gives a size that is a multiple of it.
const PLAIN_ALIGN: usize = 16;

pub struct MiMalloc;

/// Whether plain `mi_malloc` of `size` bytes meets `align`.
fn plain(size: usize, align: usize) -> bool {
    align <= PLAIN_ALIGN && size >= align && size.is_multiple_of(align)
}

// SAFETY: every block comes from mimalloc and goes back to it; `plain` holds alignment.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: mimalloc's allocation calls take any size and power-of-two alignment.
        unsafe { (if plain(size, align) { mi::mi_malloc(size) } else { mi::mi_malloc_aligned(size, align) }).cast() }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: as `alloc`.
        unsafe { (if plain(size, align) { mi::mi_zalloc(size) } else { mi::mi_zalloc_aligned(size, align) }).cast() }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract); mi_free takes
        // blocks of both the plain and the aligned calls.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: `ptr` came from this allocator with `layout` (GlobalAlloc's contract).
        unsafe {
            (if plain(new_size, align) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size)
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, align)
            })
            .cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to 8 KiB in steps of 8, at every alignment, comes back aligned, and a
    /// realloc keeps the bytes (fails if `plain` lets larger alignments through: a 40-byte
    /// block aligned to 32 comes back from plain `mi_malloc` 16-aligned).
    #[test]
    fn blocks_meet_their_alignment_and_realloc_keeps_bytes() {
        let mut live = Vec::new();
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in (align..=8 * 1024).step_by(8).chain([64 * 1024, 3 << 20]) {
                for _ in 0..3 {
                    let layout = Layout::from_size_align(size, align).unwrap();
                    // SAFETY: non-zero size; freed below with the same layout.
                    let p = unsafe { MiMalloc.alloc(layout) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    // SAFETY: p has `size` bytes.
                    unsafe { p.write_bytes(0xa5, size) };
                    live.push((p, layout));
                }
            }
        }
        for (p, layout) in live {
            let grown = layout.size() * 3 + 8;
            // SAFETY: p came from alloc with layout; grown is non-zero.
            let q = unsafe { MiMalloc.realloc(p, layout, grown) };
            assert_eq!(q as usize % layout.align(), 0);
            // SAFETY: q holds the old bytes, layout.size() of them.
            assert!(unsafe { std::slice::from_raw_parts(q, layout.size()) }.iter().all(|b| *b == 0xa5));
            // SAFETY: q came from realloc with the grown size.
            unsafe { MiMalloc.dealloc(q, Layout::from_size_align(grown, layout.align()).unwrap()) };
        }
        let zeroed = Layout::from_size_align(4096, 16).unwrap();
        // SAFETY: non-zero size; freed at once.
        let z = unsafe { MiMalloc.alloc_zeroed(zeroed) };
        // SAFETY: z has 4096 bytes.
        assert!(unsafe { std::slice::from_raw_parts(z, 4096) }.iter().all(|b| *b == 0));
        // SAFETY: z came from alloc_zeroed with this layout.
        unsafe { MiMalloc.dealloc(z, zeroed) };
    }
}
