//! glibc malloc settings for libtorch's CPU tensors. By default glibc serves every block above its mmap threshold
//! (128 KiB, adapting up to 32 MiB) with a fresh `mmap` and returns it with `munmap` on free, so each training step
//! page-faults its activations in again: on 2 cores at 224 px a third of the step's CPU time was system time.
//! [`retain_freed_memory`] makes malloc serve large blocks from the heap and keep freed memory for reuse
//! (the effect of `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`), at the cost of a slightly higher peak RSS.

/// `mallopt` parameters (glibc's malloc.h).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod ffi {
    pub const M_TRIM_THRESHOLD: i32 = -1;
    pub const M_MMAP_MAX: i32 = -4;
    extern "C" {
        pub fn mallopt(param: i32, value: i32) -> i32;
    }
}

/// Keeps freed memory in the heap instead of returning it to the kernel (glibc only; a no-op elsewhere). Returns
/// whether the allocator accepted the settings. Call it once at start-up, before the heavy allocations.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc.
        unsafe { ffi::mallopt(ffi::M_MMAP_MAX, 0) == 1 && ffi::mallopt(ffi::M_TRIM_THRESHOLD, i32::MAX) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_accepts_the_settings_and_large_blocks_still_allocate() {
        let accepted = super::retain_freed_memory();
        assert_eq!(accepted, cfg!(all(target_os = "linux", target_env = "gnu")));
        // 64 MiB from the heap, written and freed twice.
        for _ in 0..2 {
            let v = vec![1u8; 64 << 20];
            assert_eq!(v[(64 << 20) - 1], 1);
        }
    }
}
