//! Numbers as exact decimals in one canonical form.

use std::fmt;

use super::Value;

/// A JSON number as an exact decimal, written the one way JavaScript writes it:
/// `7.0`, `7` and `0.7e1` are all `7`; `2.50` is `2.5`; `1e21` is `1e+21`.
/// Equal numbers have equal text, so comparing text compares numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// A number from JSON number text (`-12.5e3`); `None` if it is not one.
    pub fn from_text(text: &str) -> Option<Number> {
        match scan(text.as_bytes()) {
            Ok((length, number)) if length == text.len() => Some(number),
            _ => None,
        }
    }

    /// The canonical text (what JSON output carries).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The nearest double (for display; evaluation never rounds).
    pub fn as_f64(&self) -> Option<f64> {
        super::decimal::to_f64(&self.0)
    }

    /// Whether a double (a JavaScript number) holds this number exactly as written:
    /// at most 15 significant digits, and a magnitude from 1e-307 to below 1e308.
    /// Such a number survives any trip through doubles and back unchanged.
    pub fn fits_double(&self) -> bool {
        // Read the canonical text as bytes: digits, an optional point, an optional
        // exponent (`e+N` / `e-N`).
        let (mut digits, mut leading, mut significant) = (0i64, None, 0i64);
        let (mut point, mut exponent, mut sign, mut in_exponent) = (None, 0i64, 1i64, false);
        for &b in self.0.as_bytes() {
            match b {
                b'e' => in_exponent = true,
                b'-' if in_exponent => sign = -1,
                b'0'..=b'9' if in_exponent => {
                    exponent = (exponent * 10 + i64::from(b - b'0')).min(1 << 40);
                }
                b'0'..=b'9' => {
                    if b != b'0' {
                        leading.get_or_insert(digits);
                        significant = digits + 1;
                    }
                    digits += 1;
                }
                b'.' => point = Some(digits),
                _ => {}
            }
        }
        let Some(leading) = leading else {
            return true; // zero
        };
        // The power of ten of the first significant digit.
        let first = point.unwrap_or(digits) - 1 - leading + sign * exponent;
        significant - leading <= 15 && (-307..=307).contains(&first)
    }

    /// The shortest decimal that reads back as `x`, as JavaScript picks it (zmij
    /// breaks ties as ECMAScript does; `{:e}` does not); `None` for NaN and the
    /// infinities.
    pub fn from_f64(x: f64) -> Option<Number> {
        x.is_finite()
            .then(|| Number::from_text(zmij::Buffer::new().format_finite(x)))
            .flatten()
    }
}

/// Reads the JSON number at the start of `bytes`: its length and value, or the
/// offset of the first byte that does not fit the grammar
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub(super) fn scan(bytes: &[u8]) -> Result<(usize, Number), usize> {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let digits_from = |mut i: usize| {
        while at(i).is_ascii_digit() {
            i += 1;
        }
        i
    };
    let negative = at(0) == b'-';
    let integer_start = usize::from(negative);
    let integer_end = digits_from(integer_start);
    match integer_end - integer_start {
        0 => return Err(integer_start),
        1 => {}
        _ if at(integer_start) == b'0' => return Err(integer_start + 1),
        _ => {}
    }
    let (fraction_start, mut end) = (integer_end + 1, integer_end);
    if at(end) == b'.' {
        end = digits_from(fraction_start);
        if end == fraction_start {
            return Err(end);
        }
    }
    let fraction_end = end.max(fraction_start);
    let mut exponent: i64 = 0;
    if matches!(at(end), b'e' | b'E') {
        let sign: i64 = if at(end + 1) == b'-' { -1 } else { 1 };
        let start = end + 1 + usize::from(matches!(at(end + 1), b'+' | b'-'));
        end = digits_from(start);
        if end == start {
            return Err(end);
        }
        for &digit in bytes.get(start..end).unwrap_or_default() {
            // Saturates far beyond any exponent that changes the written form.
            exponent = (exponent * 10 + i64::from(digit - b'0')).min(1_000_000_000_000);
        }
        exponent *= sign;
    }
    let integer = bytes.get(integer_start..integer_end).unwrap_or_default();
    let fraction = bytes.get(fraction_start..fraction_end).unwrap_or_default();
    Ok((end, canonical(negative, integer, fraction, exponent)))
}

/// Digits `integer.fraction × 10^exponent` in the form of ECMA-262's
/// Number::toString, applied to the exact decimal rather than to a double.
fn canonical(negative: bool, integer: &[u8], fraction: &[u8], exponent: i64) -> Number {
    let all = || integer.iter().chain(fraction).copied();
    let leading = all().take_while(|&d| d == b'0').count();
    let significant = all().rev().skip_while(|&d| d == b'0').count();
    let k = significant.saturating_sub(leading) as i64;
    if k == 0 {
        return Number("0".to_string());
    }
    let digits: Vec<char> = all()
        .skip(leading)
        .take(k as usize)
        .map(char::from)
        .collect();
    let push = |out: &mut String, digits: &[char]| digits.iter().for_each(|&d| out.push(d));
    let zeros = |out: &mut String, count: i64| (0..count).for_each(|_| out.push('0'));
    // The value is 0.d1d2…dk × 10^n.
    let n = integer.len() as i64 - leading as i64 + exponent;
    let mut out = String::with_capacity(k as usize + 8);
    if negative {
        out.push('-');
    }
    if k <= n && n <= 21 {
        push(&mut out, &digits);
        zeros(&mut out, n - k);
    } else if 0 < n && n <= 21 {
        let (whole, part) = digits
            .split_at_checked(n as usize)
            .unwrap_or((&digits, &[]));
        push(&mut out, whole);
        out.push('.');
        push(&mut out, part);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        zeros(&mut out, -n);
        push(&mut out, &digits);
    } else {
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, &[]));
        push(&mut out, first);
        if !rest.is_empty() {
            out.push('.');
            push(&mut out, rest);
        }
        out.push_str(if n > 0 { "e+" } else { "e-" });
        out.push_str(&(n - 1).unsigned_abs().to_string());
    }
    Number(out)
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! number_from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Number {
                Number(n.to_string())
            }
        }
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(n.into())
            }
        }
    )*};
}
number_from_integer!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);

impl From<f64> for Value {
    /// NaN and the infinities, which JSON cannot write, become null.
    fn from(x: f64) -> Value {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> String {
        Number::from_text(text).map(|n| n.0).unwrap_or_default()
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        for (text, expected) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0e5", "0"),
            ("7", "7"),
            ("7.0", "7"),
            ("7.50", "7.5"),
            ("0.7e1", "7"),
            ("1E2", "100"),
            ("0.29", "0.29"),
            ("-12.5", "-12.5"),
            ("100e-2", "1"),
            ("120", "120"),
            ("123456789012345678901", "123456789012345678901"),
            ("1e21", "1e+21"),
            ("1.5e21", "1.5e+21"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("-0.00000012", "-1.2e-7"),
            ("12345678901234567890123", "1.2345678901234567890123e+22"),
            ("1e999999999999999999999", "1e+1000000000000"),
            ("00", ""),
            ("01.5", ""),
            ("1.", ""),
            (".5", ""),
            ("1e", ""),
            ("1e+", ""),
            ("+1", ""),
            ("-", ""),
            ("", ""),
            ("1 ", ""),
        ] {
            assert_eq!(number(text), expected, "{text}");
        }
    }

    #[test]
    fn a_double_holds_fifteen_digits_in_its_range() {
        for (text, fits) in [
            ("0", true),
            ("0.29", true),
            ("123456789012345", true),
            ("1234567890123456", false),
            ("0.000123456789012345", true),
            ("0.0001234567890123456", false),
            ("100000000000000000000", true),
            ("-9.99999999999999e307", true),
            ("1e308", false),
            ("1e-307", true),
            ("1e-308", false),
            ("1e400", false),
            ("0.30000000000000004", false),
        ] {
            assert_eq!(
                Number::from_text(text).unwrap().fits_double(),
                fits,
                "{text}"
            );
        }
    }

    #[test]
    fn doubles_are_written_as_javascript_writes_them() {
        // Number.prototype.toString of each, as Node prints it.
        for (x, js) in [
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e21, "1e+21"),
            (123e-20, "1.23e-18"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5, "-2.5"),
            (1e20, "100000000000000000000"),
            // A tie: the exact double is ...125, and ECMAScript picks the even digit.
            (1.2720413208007812, "1.2720413208007812"),
            (277567039291826.62, "277567039291826.62"),
        ] {
            assert_eq!(Number::from_f64(x).unwrap().as_str(), js);
        }
        assert_eq!(Value::from(f64::NAN), Value::Null);
    }
}
