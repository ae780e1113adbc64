//! The evaluation context: flat, as in OpenFeature (`targetingKey` plus attributes).

use crate::json::{Map, Value};

pub const TARGETING_KEY: &str = "targetingKey";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    pub targeting_key: Option<String>,
    pub attributes: Map,
}

impl Context {
    pub fn new(targeting_key: impl Into<String>) -> Self {
        Context {
            targeting_key: Some(targeting_key.into()),
            attributes: Map::new(),
        }
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// A context from any JSON value; the error says what is wrong with it.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut attributes) = value else {
            return Err(format!(
                "context must be a JSON object, not {}",
                value.kind()
            ));
        };
        // Null is no targeting key, as absent is.
        let targeting_key = match attributes.remove(TARGETING_KEY) {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(key),
            Some(other) => {
                return Err(format!(
                    "targetingKey must be a string, not {}",
                    other.kind()
                ));
            }
        };
        Ok(Context {
            targeting_key,
            attributes,
        })
    }

    /// A context from JSON text; the error says what is wrong with it.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value = crate::json::parse(text).map_err(|error| format!("context: {error}"))?;
        Self::from_value(value)
    }

    /// An attribute by name; `targetingKey` is one too.
    pub fn get(&self, name: &str) -> Option<Attribute<'_>> {
        Attributes::get(self, name)
    }
}

/// What evaluation reads from a context: the targeting key, and attributes by
/// name. [`Context`] is the general one; a binding can supply a lighter one.
pub trait Attributes {
    fn targeting_key(&self) -> Option<&str>;

    /// An attribute other than the targeting key.
    fn attribute(&self, name: &str) -> Option<Attribute<'_>>;

    fn get(&self, name: &str) -> Option<Attribute<'_>> {
        if name == TARGETING_KEY {
            self.targeting_key().map(Attribute::Text)
        } else {
            self.attribute(name)
        }
    }
}

impl Attributes for Context {
    fn targeting_key(&self) -> Option<&str> {
        self.targeting_key.as_deref()
    }

    fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        match self.attributes.get(name)? {
            Value::Null => None,
            Value::String(text) => Some(Attribute::Text(text)),
            Value::Bool(true) => Some(Attribute::Text("true")),
            Value::Bool(false) => Some(Attribute::Text("false")),
            // In canonical form, so 7, 7.0 and 7e0 are all "7" everywhere.
            Value::Number(number) => Some(Attribute::Text(number.as_str())),
            _ => Some(Attribute::Structure),
        }
    }
}

/// A context that is a targeting key alone (`is_enabled`).
pub struct KeyOnly<'a>(pub &'a str);

impl Attributes for KeyOnly<'_> {
    fn targeting_key(&self) -> Option<&str> {
        Some(self.0)
    }

    fn attribute(&self, _name: &str) -> Option<Attribute<'_>> {
        None
    }
}

/// An attribute as constraints see it: scalars compare as text.
pub enum Attribute<'a> {
    Text(&'a str),
    Structure,
}

#[cfg(feature = "serde")]
impl serde::Serialize for Context {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if let Some(key) = &self.targeting_key {
            map.serialize_entry(TARGETING_KEY, key)?;
        }
        for (name, value) in &self.attributes {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Reads a flat JSON object into a context, by the rules of [`Context::from_value`].
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Context {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        Context::from_value(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}
