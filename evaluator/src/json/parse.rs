//! The parser: RFC 8259, with line and column on every error.

use std::fmt;

use super::{Map, Number, Value};

/// Deeper nesting than this is refused rather than risk the stack.
pub const MAX_DEPTH: usize = 128;

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
        let before = self.bytes.get(..pos).unwrap_or(self.bytes);
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Characters, not bytes: count the bytes that start one.
        let column = 1 + before
            .get(line_start..)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        SyntaxError {
            message: message.to_string(),
            line,
            column,
        }
    }

    fn rest(&self) -> &[u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
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
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1; // {
        let mut map = Map::new();
        // Where each key starts, to say where a duplicate is.
        let mut starts = Vec::new();
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
            starts.push(at);
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
                Some(b',') => self.comma(b'}')?,
                Some(b'}') => {
                    self.pos += 1;
                    return match map.duplicate() {
                        None => Ok(Value::Object(map)),
                        Some(i) => {
                            let key = map.entries.get(i).map_or("", |(key, _)| key.as_str());
                            let message = format!("duplicate key \"{key}\"");
                            Err(self.error_at(starts.get(i).copied().unwrap_or(0), &message))
                        }
                    };
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// Steps over a comma, which must not be the last thing before `close`.
    fn comma(&mut self, close: u8) -> Result<(), SyntaxError> {
        self.pos += 1;
        self.skip_space();
        if self.peek() == Some(close) {
            return Err(self.error("trailing comma"));
        }
        Ok(())
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
                Some(b',') => self.comma(b']')?,
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
            out.push_str(self.text.get(start..self.pos).unwrap_or_default());
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

    /// After `\u`: four hex digits, and a second escape for a surrogate pair. A
    /// lone surrogate (which `JSON.stringify` writes for a malformed JavaScript
    /// string) reads as U+FFFD, as `TextEncoder` encodes it: the same string then
    /// reaches the evaluator whichever way it crossed from JavaScript.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        const REPLACEMENT: char = '\u{FFFD}';
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return Ok(REPLACEMENT);
        }
        if !(0xD800..=0xDBFF).contains(&first) {
            return Ok(char::from_u32(first).unwrap_or(REPLACEMENT));
        }
        let after = self.pos;
        if self.rest().starts_with(b"\\u") {
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..=0xDFFF).contains(&second) {
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or(REPLACEMENT));
            }
        }
        // Not a pair: the next escape, if any, is read on its own.
        self.pos = after;
        Ok(REPLACEMENT)
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
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match super::number::scan(rest) {
            Ok((length, number)) => {
                self.pos += length;
                Ok(number)
            }
            Err(offset) => Err(self.error_at(self.pos + offset, "invalid number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("01", "invalid number", 1, 2),
            ("-", "invalid number", 1, 2),
            ("tru", "expected value", 1, 1),
            ("{1:2}", "key must be a string", 1, 2),
            ("[1 2]", "expected ',' or ']'", 1, 4),
            ("[1,]", "trailing comma", 1, 4),
            ("{\"a\":1, }", "trailing comma", 1, 9),
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
    fn lone_surrogates_read_as_replacement_characters() {
        for (text, expected) in [
            (r#""\ud800""#, "\u{FFFD}"),
            (r#""\udc00x""#, "\u{FFFD}x"),
            (r#""\ud800\u0041""#, "\u{FFFD}A"),
            (r#""\ud800\ud83d\ude00""#, "\u{FFFD}😀"),
            (r#""\ud83d\ude00""#, "😀"),
        ] {
            assert_eq!(parse(text).unwrap(), Value::from(expected), "{text}");
        }
        assert_eq!(
            parse(r#""\ud800\u00""#).unwrap_err().message,
            "invalid escape"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        let error = parse(&deep(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(error.message, "nested more than 128 levels deep");
        assert!(parse(&deep(100_000)).is_err());
    }
}
