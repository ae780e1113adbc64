//! What is wrong with a plan: each problem with a JSON Pointer (RFC 6901) to
//! where it is and a sentence saying what is wrong.

use std::fmt;

/// One thing wrong with a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Problem {
    /// JSON Pointer to the offending value; "" is the whole document.
    pub path: String,
    pub message: String,
    /// Where in the text, for problems found while reading JSON.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub line: Option<usize>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub column: Option<usize>,
}

impl Problem {
    pub(crate) fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{path} (line {line}, column {column}): {}", self.message)
            }
            _ => write!(f, "{path}: {}", self.message),
        }
    }
}

/// All problems of a plan, as one error (for `?` and for JavaScript's `Error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub Vec<Problem>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "invalid plan: {count} problem{}",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// Names as a message lists them: `a, b, c`. (A loop, not `join`, whose generic
/// copy costs the npm package a kilobyte.)
pub fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for name in names {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(name);
    }
    text
}

/// Escapes a key for use in a JSON Pointer (RFC 6901).
pub fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}
