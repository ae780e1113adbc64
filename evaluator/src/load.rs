//! Loading a plan: JSON text or an already-parsed value in, a plan whose shape
//! (`read`) and rules (`validate`) have been checked out; and the serde impl that
//! sends every other path into a `Plan` through the same checks.

use crate::json::{SyntaxError, Value};

use crate::model::Plan;
use crate::problem::{Invalid, Problem};
use crate::validate::validate;

/// Reads and validates a plan from JSON text.
pub fn parse_plan(text: &str) -> Result<Plan, Invalid> {
    checked(read_plan(text)?)
}

/// Reads a plan from JSON text, checking its shape but not the rules across fields.
pub fn read_plan(text: &str) -> Result<Plan, Invalid> {
    let value = crate::json::parse(text).map_err(|error| Invalid(vec![syntax_problem(error)]))?;
    crate::read::plan(value).map_err(Invalid)
}

/// Reads and validates a plan from an already-parsed JSON value.
pub fn plan_from_value(value: Value) -> Result<Plan, Invalid> {
    checked(crate::read::plan(value).map_err(Invalid)?)
}

fn checked(plan: Plan) -> Result<Plan, Invalid> {
    let problems = validate(&plan);
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(Invalid(problems))
    }
}

fn syntax_problem(error: SyntaxError) -> Problem {
    Problem {
        path: String::new(),
        message: error.message,
        line: Some(error.line),
        column: Some(error.column),
    }
}

/// A plan deserializes through `read` and `validate`: every path into a `Plan`
/// (the server's request bodies, the console's responses) gets the same checks.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Plan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        plan_from_value(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// A sign-off on its own (the server's answer to signing) deserializes through
/// the same shape table as the sign-offs in a plan.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for crate::model::Signoff {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        crate::read::signoff_from(Value::deserialize(deserializer)?).map_err(|problems| {
            let problems: Vec<String> = problems
                .iter()
                .map(|problem| format!("{}: {}", problem.path, problem.message))
                .collect();
            D::Error::custom(format_args!("invalid sign-off: {}", problems.join("; ")))
        })
    }
}
