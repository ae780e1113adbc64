//! The bucketing rule (spec version 1): the only place that knows it.
//!
//! ```text
//! h      = MurmurHash3_x86_32(salt ++ unit, seed 0)
//! bucket = (h * 10_000) >> 32          in 0..=9999
//! in     ⇔ bucket < basis points       (percentage × 100)
//! ```

use crate::json::Number;
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

    // `#[inline(always)]` here and below: the npm package is built for size,
    // where these would stay calls on its fast path (`Evaluator::is_enabled_at`).
    #[inline(always)]
    pub fn hash(&self, unit: &str) -> u32 {
        self.hash_bytes(unit.as_bytes())
    }

    /// Hash of raw unit bytes (the CLI's ids may be any bytes but LF).
    #[inline(always)]
    pub fn hash_bytes(&self, unit: &[u8]) -> u32 {
        let mut state = self.0.clone();
        state.write(unit);
        state.finish()
    }

    #[inline(always)]
    pub fn bucket(&self, unit: &str) -> u16 {
        bucket_of_hash(self.hash(unit))
    }

    pub fn bucket_bytes(&self, unit: &[u8]) -> u16 {
        bucket_of_hash(self.hash_bytes(unit))
    }
}

/// Scales a hash onto 0..=9999 with integer arithmetic only.
#[inline(always)]
pub fn bucket_of_hash(h: u32) -> u16 {
    ((u64::from(h) * u64::from(BUCKETS)) >> 32) as u16
}

/// Basis points (0..=10_000) of a percentage, read as the decimal it is: 0.29 is
/// 29, never 28. `None` if it is outside 0–100 or has more than two decimals.
pub fn basis_points(percentage: &Number) -> Option<u16> {
    // The canonical text of 0–100 is plain digits with at most one point: count
    // the digits before it (at most 3) and after it (at most 2).
    let (mut points, mut whole, mut fraction, mut point) = (0u32, 0, 0, false);
    for &b in percentage.as_str().as_bytes() {
        match b {
            b'.' if !point => point = true,
            b'0'..=b'9' if point => fraction += 1,
            b'0'..=b'9' => whole += 1,
            _ => return None,
        }
        if b != b'.' {
            points = points
                .saturating_mul(10)
                .saturating_add(u32::from(b - b'0'));
        }
    }
    if whole == 0 || whole > 3 || fraction > 2 || (point && fraction == 0) {
        return None;
    }
    points *= 10u32.pow(2 - fraction);
    (points <= BUCKETS).then_some(points as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Number {
        Number::from_text(text).unwrap()
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
            ("1e2", Some(10_000)),
            ("2.5e1", Some(2500)),
            ("29e-2", Some(29)),
            ("0.290", Some(29)),
            ("1e-7", None),
            ("1000000000000000000000", None),
            ("99999999999.99", None),
        ];
        for (text, want) in cases {
            assert_eq!(basis_points(&number(text)), want, "{text}");
        }
    }
}
