//! [`allocation_size`]: what an allocation takes in the allocator the broker is measured with,
//! for choices of layout that depend on it (whether a kept body is worth a copy of its own).

/// What an allocation of `len` bytes takes in a size-class allocator: jemalloc's classes
/// (the `warren` binary's allocator), 8 and 16 bytes, then steps of 16 up to 128 and four
/// classes to every doubling above (160, 192, 224, 256, 320, ... 1024, 1280, ... 65536,
/// 81920...). Other allocators round less (glibc: to 16 bytes), never to a class this does
/// not have: a choice of layout made on these sizes costs them nothing.
pub fn allocation_size(len: usize) -> usize {
    if len <= 16 {
        return len.next_multiple_of(8).max(8);
    }
    let lg = (len - 1).ilog2();
    let step = 1usize << lg.saturating_sub(2).max(4);
    len.next_multiple_of(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_sizes_are_jemallocs_classes() {
        let classes = [
            (1, 8),
            (9, 16),
            (17, 32),
            (40, 48),
            (97, 112),
            (128, 128),
            (129, 160),
            (152, 160),
            (161, 192),
            (1024, 1024),
            (1025, 1280),
            (1121, 1280),
            (4096, 4096),
            (4193, 5120),
            (16384, 16384),
            (16481, 20480),
            (65536, 65536),
            (65544, 81920),
            (131_072, 131_072),
        ];
        for (len, class) in classes {
            assert_eq!(allocation_size(len), class, "{len} bytes");
        }
    }
}
