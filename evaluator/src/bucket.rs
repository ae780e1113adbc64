//! The bucketing rule (spec version 1): the only place that knows it.
//!
//! ```text
//! h      = MurmurHash3_x86_32(salt ++ unit, seed 0)
//! bucket = (h * 10_000) >> 32          in 0..=9999
//! in     ⇔ bucket < basis points       (percentage × 100)
//! ```

use crate::murmur3::Murmur3;

/// Number of buckets; a percentage of 100 is this many basis points.
pub const BUCKETS: u32 = 10_000;

/// The bucket (0..=9999) of `unit` under `salt`.
pub fn bucket(salt: &str, unit: &str) -> u16 {
    Salt::new(salt).bucket(unit)
}

/// The 32-bit hash the bucket is taken from.
pub fn hash(salt: &str, unit: &str) -> u32 {
    Salt::new(salt).hash(unit)
}

/// A salt mixed into the hash state once, to bucket many units under it.
#[derive(Clone, Debug)]
pub struct Salt(Murmur3);

impl Salt {
    pub fn new(salt: &str) -> Self {
        let mut state = Murmur3::new(0);
        state.write(salt.as_bytes());
        Salt(state)
    }

    pub fn hash(&self, unit: &str) -> u32 {
        self.hash_bytes(unit.as_bytes())
    }

    /// Hash of raw unit bytes (the CLI's ids may be any bytes but LF).
    pub fn hash_bytes(&self, unit: &[u8]) -> u32 {
        let mut state = self.0.clone();
        state.write(unit);
        state.finish()
    }

    pub fn bucket(&self, unit: &str) -> u16 {
        bucket_of_hash(self.hash(unit))
    }

    pub fn bucket_bytes(&self, unit: &[u8]) -> u16 {
        bucket_of_hash(self.hash_bytes(unit))
    }
}

/// Scales a hash onto 0..=9999 with integer arithmetic only.
pub fn bucket_of_hash(h: u32) -> u16 {
    ((u64::from(h) * u64::from(BUCKETS)) >> 32) as u16
}

/// Basis points (0..=10_000) of a percentage written as a JSON number, read as the
/// decimal it is: 0.29 is 29, never 28. `None` if it is outside 0–100 or has more
/// than two decimals.
pub fn basis_points(percentage: &serde_json::Number) -> Option<u16> {
    if let Some(whole) = percentage.as_u64() {
        return (whole <= 100).then(|| whole as u16 * 100);
    }
    let value = percentage.as_f64()?;
    if !(0.0..=100.0).contains(&value) {
        return None;
    }
    let points = (value * 100.0).round();
    // The decimal had at most two places iff points/100 reads back as the same double
    // (IEEE division is correctly rounded, as is JSON number parsing).
    (points / 100.0 == value).then_some(points as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> serde_json::Number {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reference_values_from_the_spec() {
        assert_eq!(hash("domain-migration", "user-42"), 3_021_715_564);
        assert_eq!(bucket("domain-migration", "user-42"), 7035);
        assert_eq!(bucket("domain-migration", "user-1"), 2624);
        assert_eq!(bucket("domain-migration", "ユーザー"), 6724);
        assert_eq!(bucket("salt", "😀"), 8217);
    }

    #[test]
    fn quarter_of_a_hundred_thousand_users() {
        let salt = Salt::new("domain-migration");
        let inside = (0..100_000)
            .filter(|i| salt.bucket(&format!("user-{i}")) < 2500)
            .count();
        assert_eq!(inside, 24_988);
    }

    #[test]
    fn salt_and_unit_are_joined_without_separator() {
        assert_eq!(bucket("ab", "c"), bucket("a", "bc"));
        assert_eq!(bucket("", "abc"), bucket("abc", ""));
    }

    #[test]
    fn extreme_hashes_map_to_the_ends() {
        assert_eq!(bucket_of_hash(0), 0);
        assert_eq!(bucket_of_hash(u32::MAX), 9999);
        // The first hash of bucket 1 is ceil(2^32 / 10_000).
        assert_eq!(bucket_of_hash(429_496), 0);
        assert_eq!(bucket_of_hash(429_497), 1);
    }

    #[test]
    fn percentages_read_as_decimals() {
        let cases = [
            ("0", Some(0)),
            ("5", Some(500)),
            ("100", Some(10_000)),
            ("0.29", Some(29)),
            ("0.01", Some(1)),
            ("33.33", Some(3333)),
            ("99.99", Some(9999)),
            ("12.5", Some(1250)),
            ("100.0", Some(10_000)),
            ("0.291", None),
            ("0.001", None),
            ("100.01", None),
            ("101", None),
            ("-1", None),
            ("-0.5", None),
            ("1e3", None),
        ];
        for (text, want) in cases {
            assert_eq!(basis_points(&number(text)), want, "{text}");
        }
    }
}
