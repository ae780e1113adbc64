//! JSON without serde: a value that keeps numbers as exact decimals, a parser that
//! says where it stopped, and a compact writer.
//!
//! The evaluator reads plans and contexts itself rather than through serde_json:
//! a plan's numbers are decimals (0.29 % must be 29 basis points, never a rounded
//! float), and the npm package must stay small, which serde's generic code and
//! float formatting do not allow. serde support is an optional layer on top
//! (`serde` feature), for the server and the console.

use std::fmt;

/// Deeper nesting than this is refused rather than risk the stack.
pub const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON number as an exact decimal, written the one way JavaScript writes it:
/// `7.0`, `7` and `0.7e1` are all `7`; `2.50` is `2.5`; `1e21` is `1e+21`.
/// Equal numbers have equal text, so comparing text compares numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number(String);

/// A JSON object: keys in document order, each once. A list rather than a hash
/// table: objects in plans and contexts are small, and a scan of a few short
/// keys costs less (in time and in wasm size) than hashing.
#[derive(Clone, Debug)]
pub struct Map<V = Value> {
    entries: Vec<(String, V)>,
}

/// Why text is not JSON, and where (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for SyntaxError {}

/// Parses one JSON value (RFC 8259). Duplicate keys are an error: a document that
/// says two things about one field is refused, not read as its last word.
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    parser.skip_space();
    let value = parser.value()?;
    parser.skip_space();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> SyntaxError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, pos: usize, message: &str) -> SyntaxError {
        let before = &self.bytes[..pos.min(self.bytes.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Characters, not bytes: count the bytes that start one.
        let column = 1 + before[line_start..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        SyntaxError {
            message: message.to_string(),
            line,
            column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn nested(
        &mut self,
        read: fn(&mut Self) -> Result<Value, SyntaxError>,
    ) -> Result<Value, SyntaxError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("nested more than 128 levels deep"));
        }
        self.depth += 1;
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1; // {
        let mut map = Map::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_space();
            let at = self.pos;
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("key must be a string")),
            }
            let key = self.string()?;
            if map.contains_key(&key) {
                return Err(self.error_at(at, &format!("duplicate key \"{key}\"")));
            }
            self.skip_space();
            match self.peek() {
                Some(b':') => self.pos += 1,
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected ':'")),
            }
            self.skip_space();
            let value = self.value()?;
            map.entries.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1; // [
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value()?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.pos += 1; // "
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Stops only at ASCII bytes, so both ends are character boundaries.
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            out.push(self.unicode_escape()?);
                            continue;
                        }
                        None => return Err(self.error("EOF while parsing a string")),
                        Some(_) => return Err(self.error("invalid escape")),
                    };
                    self.pos += 1;
                    out.push(escaped);
                }
                Some(_) => {
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
    }

    /// After `\u`: four hex digits, and a second escape for a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("invalid surrogate pair in hex escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in hex escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                None => return Err(self.error("EOF while parsing a string")),
                Some(_) => return Err(self.error("invalid escape")),
            };
            code = code * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(code)
    }

    fn number(&mut self) -> Result<Number, SyntaxError> {
        let start = self.pos;
        let digits = |parser: &mut Self| {
            let from = parser.pos;
            while let Some(b'0'..=b'9') = parser.peek() {
                parser.pos += 1;
            }
            parser.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let integer_start = self.pos;
        match digits(self) {
            0 => return Err(self.error("invalid number")),
            n if n > 1 && self.bytes[integer_start] == b'0' => {
                return Err(self.error_at(integer_start + 1, "invalid number"));
            }
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        Number::from_text(&self.text[start..self.pos]).ok_or_else(|| self.error("invalid number"))
    }
}

impl Number {
    /// A number from JSON number text (`-12.5e3`); `None` if it is not one.
    pub fn from_text(text: &str) -> Option<Number> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (integer, fraction) = match mantissa.split_once('.') {
            Some((integer, fraction)) => (integer, fraction),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        if integer.len() > 1 && integer.starts_with('0') {
            return None;
        }
        if mantissa.contains('.') && fraction.is_empty() {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(text) => {
                let (sign, digits) = match text.as_bytes().first() {
                    Some(b'-') => (-1, &text[1..]),
                    Some(b'+') => (1, &text[1..]),
                    _ => (1, text),
                };
                if digits.is_empty() || !all_digits(digits) {
                    return None;
                }
                // Saturates far beyond any exponent that changes the text's meaning.
                let magnitude = digits.bytes().fold(0i64, |n, b| {
                    (n * 10 + i64::from(b - b'0')).min(1_000_000_000_000)
                });
                sign * magnitude
            }
        };
        Some(Number(canonical(negative, integer, fraction, exponent)))
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
        self.0.parse().ok()
    }

    /// Whether the number has no fractional part.
    pub fn is_integer(&self) -> bool {
        !self.0.contains(['.', 'e'])
    }
}

/// Digits `integer.fraction × 10^exponent` in the form JavaScript's
/// `Number.prototype.toString` gives (ECMA-262 Number::toString), applied to the
/// exact decimal rather than to a double.
fn canonical(negative: bool, integer: &str, fraction: &str, exponent: i64) -> String {
    let digits: Vec<u8> = integer.bytes().chain(fraction.bytes()).collect();
    // The value is 0.d1d2…dk × 10^n.
    let mut n = integer.len() as i64 + exponent;
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    n -= leading as i64;
    let digits = &digits[leading..];
    let trailing = digits.iter().rev().take_while(|&&d| d == b'0').count();
    let digits = &digits[..digits.len() - trailing];
    if digits.is_empty() {
        return "0".to_string();
    }
    let k = digits.len() as i64;
    let digits = std::str::from_utf8(digits).unwrap_or("0");
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (whole, part) = digits.split_at(n as usize);
        out.push_str(whole);
        out.push('.');
        out.push_str(part);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push_str(if n - 1 < 0 { "e-" } else { "e+" });
        out.push_str(&(n - 1).unsigned_abs().to_string());
    }
    out
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

impl Number {
    /// The shortest decimal that reads back as `x`; `None` for NaN and infinities.
    pub fn from_f64(x: f64) -> Option<Number> {
        // `{:e}` is the shortest round-trip form, e.g. "1.5e-7".
        x.is_finite()
            .then(|| Number::from_text(&format!("{x:e}")))
            .flatten()
    }
}

impl From<f64> for Value {
    /// NaN and the infinities, which JSON cannot write, become null.
    fn from(x: f64) -> Value {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

impl From<bool> for Value {
    fn from(on: bool) -> Value {
        Value::Bool(on)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::String(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::String(text)
    }
}

impl From<Number> for Value {
    fn from(number: Number) -> Value {
        Value::Number(number)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Value {
        Value::Object(map)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_boolean(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(on) => Some(*on),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(number) => Some(number),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// A field of an object; `None` for a missing key or a value that is no object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// "null", "a boolean", "a number"…: for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }
}

/// `value["key"]`: `Null` when the key is missing or the value is no object.
impl std::ops::Index<&str> for Value {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        const NULL: Value = Value::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl<V> Map<V> {
    pub const fn new() -> Self {
        Map {
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(known, _)| known == key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// Sets `key`, keeping its place if it was there; returns the old value.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value at `key`, first set to `make()` if there was none.
    pub fn get_or_insert_with(&mut self, key: String, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.position(&key) {
            Some(i) => i,
            None => {
                self.entries.push((key, make()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    /// Removes `key`, keeping the order of the rest.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        self.entries.retain_mut(|(key, value)| keep(key, value));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&String, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(key, value)| (&*key, value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, value)| value)
    }
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map::new()
    }
}

/// Equal when they hold the same keys with equal values, in any order (as JSON
/// objects are).
impl<V: PartialEq> PartialEq for Map<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .entries
                .iter()
                .all(|(key, value)| other.get(key) == Some(value))
    }
}

impl<V> std::ops::Index<&str> for Map<V> {
    type Output = V;

    /// Panics when `key` is missing, as `HashMap` does; use `get` for input.
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no key \"{key}\" in map"),
        }
    }
}

impl<V> std::ops::IndexMut<&str> for Map<V> {
    fn index_mut(&mut self, key: &str) -> &mut V {
        match self.get_mut(key) {
            Some(value) => value,
            None => panic!("no key \"{key}\" in map"),
        }
    }
}

impl<V> FromIterator<(String, V)> for Map<V> {
    /// Later entries win over earlier ones with the same key.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(items: I) -> Self {
        let mut map = Map::new();
        map.extend(items);
        map
    }
}

impl<V> Extend<(String, V)> for Map<V> {
    fn extend<I: IntoIterator<Item = (String, V)>>(&mut self, items: I) {
        for (key, value) in items {
            self.insert(key, value);
        }
    }
}

impl<V, const N: usize> From<[(String, V); N]> for Map<V> {
    fn from(items: [(String, V); N]) -> Self {
        items.into_iter().collect()
    }
}

impl<V> IntoIterator for Map<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a Map<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

impl<'a, V> IntoIterator for &'a mut Map<V> {
    type Item = (&'a String, &'a mut V);
    type IntoIter = std::iter::Map<
        std::slice::IterMut<'a, (String, V)>,
        fn(&'a mut (String, V)) -> (&'a String, &'a mut V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut().map(|(key, value)| (&*key, value))
    }
}

/// Writing compact JSON text.
pub trait WriteJson {
    fn write_json(&self, out: &mut String);
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(on) => on.write_json(out),
            Value::Number(number) => out.push_str(number.as_str()),
            Value::String(text) => write_string(text, out),
            Value::Array(items) => items.write_json(out),
            Value::Object(map) => map.write_json(out),
        }
    }
}

impl<V: WriteJson> WriteJson for Map<V> {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::open(out);
        for (key, value) in self {
            object.field(key, value);
        }
        object.close();
    }
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.write_json(out);
        }
        out.push(']');
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(value) => value.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: WriteJson + ToOwned + ?Sized> WriteJson for std::borrow::Cow<'_, T> {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}

impl WriteJson for str {
    fn write_json(&self, out: &mut String) {
        write_string(self, out);
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut String) {
        write_string(self, out);
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

macro_rules! write_integer {
    ($($t:ty)*) => {$(
        impl WriteJson for $t {
            fn write_json(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
        }
    )*};
}
write_integer!(u16 u32 u64 usize);

/// Writes an object field by field.
pub struct Object<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Object<'a> {
    pub fn open(out: &'a mut String) -> Self {
        out.push('{');
        Object { out, empty: true }
    }

    pub fn field(&mut self, key: &str, value: &(impl WriteJson + ?Sized)) -> &mut Self {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_string(key, self.out);
        self.out.push(':');
        value.write_json(self.out);
        self
    }

    pub fn close(self) {
        self.out.push('}');
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
pub fn write_string(text: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0x00..=0x1F => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
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
            ("123456789012345678901", "123456789012345678901"),
            ("1e21", "1e+21"),
            ("1.5e21", "1.5e+21"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("-0.00000012", "-1.2e-7"),
            ("12345678901234567890123", "1.2345678901234567890123e+22"),
            ("1e999999999999999999999", "1e+1000000000000"),
            ("00", ""),
            ("1.", ""),
            (".5", ""),
            ("1e", ""),
            ("+1", ""),
            ("", ""),
        ] {
            assert_eq!(number(text), expected, "{text}");
        }
    }

    #[test]
    fn every_double_writes_as_javascript_does() {
        // A sample whose JavaScript text is known (Number.prototype.toString).
        for (x, js) in [
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e21, "1e+21"),
            (123e-20, "1.23e-18"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5, "-2.5"),
            (1e20, "100000000000000000000"),
        ] {
            assert_eq!(Number::from_f64(x).unwrap().as_str(), js);
        }
        assert_eq!(Value::from(f64::NAN), Value::Null);
    }

    #[test]
    fn parses_and_writes_back() {
        let text =
            r#"{"a":[1,2.50,{"b":null}],"c":"q\"\\\n\u00e9\ud83d\ude00\u0001","d":true,"e":false}"#;
        let value = parse(text).unwrap();
        assert_eq!(value["c"], "q\"\\\né😀\u{1}");
        assert_eq!(
            value.to_json(),
            r#"{"a":[1,2.5,{"b":null}],"c":"q\"\\\né😀\u0001","d":true,"e":false}"#
        );
        assert_eq!(parse(&value.to_json()).unwrap(), value);
        assert_eq!(parse(" \n[ ]\t").unwrap(), Value::Array(Vec::new()));
    }

    #[test]
    fn errors_say_what_and_where() {
        for (text, message, line, column) in [
            ("{\n  \"a\": }", "expected value", 2, 8),
            ("{} x", "trailing characters", 1, 4),
            ("", "EOF while parsing a value", 1, 1),
            ("[1,", "EOF while parsing a value", 1, 4),
            ("{\"a\":1,\"a\":2}", "duplicate key \"a\"", 1, 8),
            (
                "\"é\u{1}\"",
                "control character (\\u0000-\\u001F) found while parsing a string",
                1,
                3,
            ),
            ("\"\\ud800\"", "lone leading surrogate in hex escape", 1, 8),
            ("\"\\udc00\"", "lone trailing surrogate in hex escape", 1, 8),
            ("01", "invalid number", 1, 2),
            ("-", "invalid number", 1, 2),
            ("tru", "expected value", 1, 1),
            ("{1:2}", "key must be a string", 1, 2),
            ("[1 2]", "expected ',' or ']'", 1, 4),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(
                (error.message.as_str(), error.line, error.column),
                (message, line, column),
                "{text:?}"
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        let error = parse(&deep(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(error.message, "nested more than 128 levels deep");
        assert!(parse(&deep(100_000)).is_err());
    }

    #[test]
    fn objects_keep_document_order_and_compare_as_sets() {
        let a = parse(r#"{"z":1,"a":2}"#).unwrap();
        let b = parse(r#"{"a":2,"z":1}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_json(), r#"{"z":1,"a":2}"#);
        let mut map = a.as_object().unwrap().clone();
        map.insert("z".into(), Value::Null);
        map.insert("m".into(), true.into());
        assert_eq!(
            Value::Object(map.clone()).to_json(),
            r#"{"z":null,"a":2,"m":true}"#
        );
        assert_eq!(map.remove("a"), Some(Value::from(2)));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["z", "m"]);
    }
}
