//! Heapsort: O(n log n) in a dozen lines, with no allocation. The standard
//! library's sorts are faster on big inputs but cost kilobytes of wasm, and what
//! stagegate sorts (user-id lists, object keys) it sorts once.

pub(crate) fn heapsort<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift_down = |items: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && less(&items[child], &items[child + 1]) {
            child += 1;
        }
        if !less(&items[root], &items[child]) {
            return;
        }
        items.swap(root, child);
        root = child;
    };
    let len = items.len();
    for start in (0..len / 2).rev() {
        sift_down(items, start, len);
    }
    for end in (1..len).rev() {
        items.swap(0, end);
        sift_down(items, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::heapsort;

    #[test]
    fn sorts_like_the_standard_library() {
        let mut state = 0x9e37_79b9_u32;
        for len in [0, 1, 2, 3, 10, 100, 1000] {
            let mut items: Vec<u32> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    state % 50
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_unstable();
            heapsort(&mut items, |a, b| a < b);
            assert_eq!(items, expected);
        }
    }
}
