//! Decimal text to the nearest double (ties to even), as `str::parse::<f64>`
//! reads it, without its tables: the standard library's reader links 10 KB of
//! powers of five, which cost the console 13 KB of its brotli wasm budget.
//! Numbers become doubles only for display, the statistics' thresholds and serde,
//! never per evaluation: the common case is one exact division, the rest one
//! big-integer division.

use std::cmp::Ordering;

/// Significant digits kept; past them only whether one is nonzero matters (the
/// halfway points between doubles have at most 767 significant digits).
const MAX_DIGITS: usize = 800;

/// `-? digits (. digits)? ([eE] [+-]? digits)?` as the nearest double; `None`
/// for text of another shape.
pub(super) fn to_f64(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let (mantissa, exponent_text) = match rest.iter().position(|&b| matches!(b, b'e' | b'E')) {
        Some(at) => (&rest[..at], rest.get(at + 1..)),
        None => (rest, None),
    };
    let mut exponent = match exponent_text {
        Some(text) => read_exponent(text)?,
        None => 0,
    };
    // The value is digits × 10^exponent, digits without leading zeros.
    let (mut digits, mut any, mut point, mut inexact) = (Vec::new(), false, false, false);
    for &b in mantissa {
        match b {
            b'.' if !point => point = true,
            b'0'..=b'9' => {
                any = true;
                exponent -= i64::from(point);
                if digits.len() == MAX_DIGITS {
                    inexact |= b != b'0';
                    exponent += 1;
                } else if !digits.is_empty() || b != b'0' {
                    digits.push(u32::from(b - b'0'));
                }
            }
            _ => return None,
        }
    }
    if !any {
        return None;
    }
    if inexact {
        // A last digit 1 stands for the dropped ones: never a halfway point.
        digits.push(1);
        exponent -= 1;
    }
    let sign = if negative { -1.0 } else { 1.0 };
    // 10^(magnitude - 1) <= value < 10^magnitude.
    let magnitude = exponent + digits.len() as i64;
    if digits.is_empty() || magnitude < -323 {
        return Some(sign * 0.0);
    }
    if magnitude > 309 {
        return Some(sign * f64::INFINITY);
    }
    Some(sign * nearest(&digits, exponent))
}

fn read_exponent(text: &[u8]) -> Option<i64> {
    let (sign, digits) = match text.split_first() {
        Some((b'-', digits)) => (-1, digits),
        Some((b'+', digits)) => (1, digits),
        _ => (1, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        // Saturates far past any exponent that changes the answer.
        exponent = (exponent * 10 + i64::from(b - b'0')).min(1 << 40);
    }
    Some(sign * exponent)
}

/// digits × 10^exponent (digits nonzero, the value within a double's range give
/// or take a power of ten), rounded to the nearest double.
fn nearest(digits: &[u32], exponent: i64) -> f64 {
    let mut n = Vec::new();
    for &digit in digits {
        mul_add(&mut n, 10, digit);
    }
    // Exact when both the digits and the power of ten are doubles exactly.
    if (-22..=22).contains(&exponent) && bit_length(&n) <= 53 {
        let whole = n
            .iter()
            .rev()
            .fold(0u64, |acc, &limb| acc << 32 | u64::from(limb)) as f64;
        let power = (0..exponent.unsigned_abs()).fold(1.0, |p, _| p * 10.0);
        return if exponent < 0 {
            whole / power
        } else {
            whole * power
        };
    }
    // value = n / m; find k with 2^52 <= n / (m × 2^k) < 2^53, or k = -1074
    // (subnormal), then round the quotient with its remainder.
    let mut m = vec![1];
    for _ in 0..exponent.unsigned_abs() {
        if exponent < 0 {
            mul_add(&mut m, 10, 0);
        } else {
            mul_add(&mut n, 10, 0);
        }
    }
    let mut k = (bit_length(&n) as i64 - bit_length(&m) as i64 - 53).max(-1074);
    let (mut q, mut r, mut divisor) = divide(&n, &m, k);
    if q >> 53 != 0 {
        k += 1;
        (q, r, divisor) = divide(&n, &m, k);
    }
    match compare(&shift_left(&r, 1), &divisor) {
        Ordering::Greater => q += 1,
        Ordering::Equal => q += q & 1,
        Ordering::Less => {}
    }
    if q >> 53 != 0 {
        q >>= 1;
        k += 1;
    }
    if k > 971 {
        return f64::INFINITY;
    }
    // A normal q × 2^k has biased exponent k + 1075 and q's top bit implicit; a
    // subnormal (k = -1074, q < 2^52) is q itself.
    f64::from_bits(q + (((k + 1074) as u64) << 52))
}

/// floor(n / (m × 2^k)) (below 2^54 by the choice of k), its remainder and the
/// divisor it is a remainder of, both scaled to integers.
fn divide(n: &[u32], m: &[u32], k: i64) -> (u64, Vec<u32>, Vec<u32>) {
    let (mut rest, divisor) = if k >= 0 {
        (n.to_vec(), shift_left(m, k as usize))
    } else {
        (shift_left(n, k.unsigned_abs() as usize), m.to_vec())
    };
    let mut q = 0u64;
    for bit in (0..55).rev() {
        let part = shift_left(&divisor, bit);
        if compare(&rest, &part) != Ordering::Less {
            subtract(&mut rest, &part);
            q |= 1 << bit;
        }
    }
    (q, rest, divisor)
}

// Big unsigned integers: 32-bit limbs, least significant first, no zero limbs
// at the top (zero is empty).

fn mul_add(a: &mut Vec<u32>, factor: u32, add: u32) {
    let mut carry = u64::from(add);
    for limb in a.iter_mut() {
        let t = u64::from(*limb) * u64::from(factor) + carry;
        *limb = t as u32;
        carry = t >> 32;
    }
    if carry != 0 {
        a.push(carry as u32);
    }
}

fn bit_length(a: &[u32]) -> usize {
    a.last()
        .map_or(0, |top| 32 * a.len() - top.leading_zeros() as usize)
}

fn shift_left(a: &[u32], bits: usize) -> Vec<u32> {
    if a.is_empty() {
        return Vec::new();
    }
    let (limbs, bits) = (bits / 32, bits % 32);
    let mut out = vec![0; limbs];
    let mut carry = 0;
    for &limb in a {
        out.push(limb << bits | carry);
        carry = if bits == 0 { 0 } else { limb >> (32 - bits) };
    }
    if carry != 0 {
        out.push(carry);
    }
    out
}

fn compare(a: &[u32], b: &[u32]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

/// a -= b, for a >= b.
fn subtract(a: &mut Vec<u32>, b: &[u32]) {
    let mut borrow = false;
    for (i, limb) in a.iter_mut().enumerate() {
        let (t, under) = limb.overflowing_sub(b.get(i).copied().unwrap_or(0));
        let (t, under_again) = t.overflowing_sub(u32::from(borrow));
        *limb = t;
        borrow = under || under_again;
    }
    while a.last() == Some(&0) {
        a.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(text: &str) {
        let expected: f64 = text.parse().unwrap();
        let got = to_f64(text).unwrap_or(f64::NAN);
        assert_eq!(
            got.to_bits(),
            expected.to_bits(),
            "{text}: {got:e} != {expected:e}"
        );
    }

    /// The exact decimal value of 2^-1075, halfway between 0 and the least subnormal.
    fn half_least_subnormal() -> String {
        let mut five = vec![1];
        for _ in 0..1075 {
            mul_add(&mut five, 5, 0);
        }
        // 2^-1075 = 5^1075 × 10^-1075: the digits of 5^1075, read by repeated division.
        let mut digits = Vec::new();
        while !five.is_empty() {
            let mut rest = 0u64;
            for limb in five.iter_mut().rev() {
                let t = rest << 32 | u64::from(*limb);
                *limb = (t / 10) as u32;
                rest = t % 10;
            }
            while five.last() == Some(&0) {
                five.pop();
            }
            digits.push(char::from(b'0' + rest as u8));
        }
        let digits: String = digits.into_iter().rev().collect();
        format!("{digits}e-1075")
    }

    #[test]
    fn reads_as_the_standard_library_does() {
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "0.1",
            "0.29",
            "2.5",
            "1e23",
            "8.98846567431158e307",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "1e308",
            "1e309",
            "1e400",
            "4.9e-324",
            "5e-324",
            "2.4703282292062328e-324",
            "2.4703282292062327e-324",
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "2.2250738585072014e-308",
            "9007199254740993",
            "9007199254740995",
            "9007199254740992.5",
            "123456789012345678901234567890",
            "0.30000000000000004",
            "1e-7",
            "1.2720413208007812",
            "277567039291826.62",
            "1e+21",
            "1E2",
            "100e-2",
            "0.000000000000000000000000000000000000000000001",
            "1e-400",
            "1e+1000000000000",
            "1e-1000000000000",
            "7.0",
            "-12.5e3",
        ] {
            same(text);
        }
        let half = half_least_subnormal();
        same(&half);
        // Past the digits kept: one nonzero digit far down decides the rounding.
        let beyond = half.replace("e-1075", &format!("{}1e-1075", "0".repeat(900)));
        same(&beyond);
        same(&format!("1{}", "0".repeat(1000)));
        same(&format!("0.{}1", "0".repeat(1000)));
        same(&format!("{}e-900", "3".repeat(1200)));
        assert_eq!(to_f64(""), None);
        assert_eq!(to_f64("-"), None);
        assert_eq!(to_f64("1e"), None);
        assert_eq!(to_f64("1x"), None);
        assert_eq!(to_f64("1.2.3"), None);
    }

    #[test]
    fn random_decimals_and_doubles_read_as_the_standard_library_does() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let length = 1 + next() % 24;
            let digits: String = (0..length)
                .map(|_| char::from(b'0' + (next() % 10) as u8))
                .collect();
            let exponent = (next() % 680) as i64 - 350;
            same(&format!("{digits}e{exponent}"));
            let x = f64::from_bits(next() & !(1 << 63));
            if x.is_finite() {
                same(&format!("{x:e}"));
                same(&format!("{:e}", f64::from_bits(x.to_bits() % (1 << 52))));
            }
        }
    }
}
