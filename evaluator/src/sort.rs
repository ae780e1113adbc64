//! Sorted lists of strings, for membership tests without hashing.

/// A set of strings as a sorted list: lists of user ids are read far more often
/// than written, and a binary search needs no hashing code in the wasm package.
#[derive(Debug)]
pub(crate) struct SortedSet(Vec<Box<str>>);

impl SortedSet {
    pub(crate) fn new(items: &[String]) -> Self {
        let mut items: Vec<Box<str>> = items.iter().map(|item| item.as_str().into()).collect();
        crate::json::sort::heapsort(&mut items, |a, b| a < b);
        items.dedup();
        SortedSet(items)
    }

    pub(crate) fn contains(&self, item: &str) -> bool {
        !self.0.is_empty() && self.0.binary_search_by(|probe| (**probe).cmp(item)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::SortedSet;

    #[test]
    fn holds_exactly_its_items() {
        let mut state = 0x9e37_79b9_u32;
        let items: Vec<String> = (0..500)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                format!("user-{}", state % 300)
            })
            .collect();
        let set = SortedSet::new(&items);
        assert!(
            set.0.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, no duplicates"
        );
        for i in 0..400 {
            let key = format!("user-{i}");
            assert_eq!(set.contains(&key), items.contains(&key), "{key}");
        }
        assert!(!SortedSet::new(&[]).contains(""));
    }
}
