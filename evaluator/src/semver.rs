//! Just enough of Semantic Versioning 2.0 to compare app versions.

use std::cmp::Ordering;

/// `MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`; missing parts are 0 ("3.4" is 3.4.0),
/// build metadata is ignored, as SemVer's precedence rules say.
///
/// Read as bytes: every separator is ASCII, and byte order is what SemVer
/// compares pre-release identifiers by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version<'a> {
    core: [u64; 3],
    pre: Option<&'a [u8]>,
}

/// A version that owns its text, to keep in a prepared plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedVersion {
    core: [u64; 3],
    pre: Option<Box<[u8]>>,
}

impl OwnedVersion {
    pub fn parse(text: &str) -> Option<Self> {
        Version::parse(text).map(|v| OwnedVersion {
            core: v.core,
            pre: v.pre.map(Into::into),
        })
    }

    pub fn as_version(&self) -> Version<'_> {
        Version {
            core: self.core,
            pre: self.pre.as_deref(),
        }
    }
}

impl<'a> Version<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.as_bytes();
        let text = text.strip_prefix(b"v").unwrap_or(text);
        let text = cut(text, b'+').map_or(text, |(version, _build)| version);
        let (core_text, pre) = match cut(text, b'-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        if let Some(pre) = pre
            && (pre.is_empty()
                || dotted(pre).any(|id| id.is_empty() || !id.iter().all(|&b| is_ident_byte(b))))
        {
            return None;
        }
        let mut core = [0u64; 3];
        let mut parts = dotted(core_text);
        for (i, slot) in core.iter_mut().enumerate() {
            match parts.next() {
                Some(part) => *slot = number(part)?,
                None if i > 0 => break,
                None => return None,
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Version { core, pre })
    }
}

/// The bytes before and after the first `at`, if there is one.
fn cut(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((bytes.get(..i)?, bytes.get(i + 1..)?))
}

fn dotted(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'.')
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn number(part: &[u8]) -> Option<u64> {
    if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    part.iter().try_fold(0u64, |n, &digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_prerelease(a, b),
            })
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn compare_prerelease(a: &[u8], b: &[u8]) -> Ordering {
    let mut a_ids = dotted(a);
    let mut b_ids = dotted(b);
    loop {
        match (a_ids.next(), b_ids.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (number(x), number(y)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version<'_> {
        Version::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn precedence_follows_semver() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2",
            "3.4.0",
            "3.4.1",
            "3.10.0",
            "10.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn short_forms_and_metadata() {
        assert_eq!(v("3.4").cmp(&v("3.4.0")), Ordering::Equal);
        assert_eq!(v("3").cmp(&v("3.0.0")), Ordering::Equal);
        assert_eq!(v("v3.4.1+build.7").cmp(&v("3.4.1")), Ordering::Equal);
    }

    #[test]
    fn rejects_what_is_not_a_version() {
        for bad in [
            "",
            "x",
            "3.",
            "3..1",
            "1.2.3.4",
            "1.2.x",
            "1.2.3-",
            "1.2.3-a..b",
            " 1.2.3",
            "1.2.3-é",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad:?} should not parse");
        }
    }
}
