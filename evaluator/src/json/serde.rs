//! serde for the [`json`](crate::json) types, for native callers (server, console).
//! Not in the npm package, which reads and writes JSON text itself.
//!
//! Through serde a number travels as u64, i64 or f64: exact for integers and for
//! every number a double holds, which is every number JavaScript can send.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{Map, Number, Value};

/// Reads a name and answers the item of `all` that `name` gives it: enums on the
/// wire as plain strings, with much less code in the console's wasm than serde's
/// derived enum visitors.
pub fn deserialize_named<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, D::Error> {
    let text = String::deserialize(deserializer)?;
    all.iter()
        .copied()
        .find(|item| name(*item) == text)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|item| name(*item)).collect();
            de::Error::custom(format_args!("'{text}' is not one of {}", names.join(", ")))
        })
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(on) => serializer.serialize_bool(*on),
            Value::Number(number) => number.serialize(serializer),
            Value::String(text) => serializer.serialize_str(text),
            Value::Array(items) => items.serialize(serializer),
            Value::Object(map) => map.serialize(serializer),
        }
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(n) = self.as_u64() {
            serializer.serialize_u64(n)
        } else if let Some(n) = self.as_i64() {
            serializer.serialize_i64(n)
        } else {
            // Finite for every number a double holds; beyond that, the nearest one.
            serializer.serialize_f64(self.as_f64().unwrap_or(0.0))
        }
    }
}

impl<V: Serialize> Serialize for Map<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E>(self, on: bool) -> Result<Value, E> {
        Ok(Value::Bool(on))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_string()))
    }

    fn visit_string<E>(self, text: String) -> Result<Value, E> {
        Ok(Value::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        MapVisitor(std::marker::PhantomData)
            .visit_map(access)
            .map(Value::Object)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(number) => Ok(number),
            other => Err(de::Error::custom(format!(
                "expected a number, not {}",
                other.kind()
            ))),
        }
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Map<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Map<V>, D::Error> {
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

struct MapVisitor<V>(std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
    type Value = Map<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map<V>, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value()?;
            map.entries.push((key, value));
        }
        match map.duplicate().and_then(|i| map.entries.get(i)) {
            None => Ok(map),
            Some((key, _)) => Err(de::Error::custom(format!("duplicate key \"{key}\""))),
        }
    }
}

#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    use crate::json::{Map, Number, Value};

    impl JsonSchema for Value {
        fn schema_name() -> Cow<'static, str> {
            "AnyValue".into()
        }

        fn inline_schema() -> bool {
            true
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            true.into()
        }
    }

    impl JsonSchema for Number {
        fn schema_name() -> Cow<'static, str> {
            "Number".into()
        }

        fn inline_schema() -> bool {
            true
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({ "type": "number" })
        }
    }

    impl<V: JsonSchema> JsonSchema for Map<V> {
        fn schema_name() -> Cow<'static, str> {
            format!("Map_of_{}", V::schema_name()).into()
        }

        fn inline_schema() -> bool {
            true
        }

        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "object",
                "additionalProperties": generator.subschema_for::<V>(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::json::{Value, parse};

    #[test]
    fn serde_json_and_the_parser_agree() {
        let text =
            r#"{"a":[1,-2,2.5,1e21,0.29,null,true],"b":{"c":"é\n"},"d":18446744073709551615}"#;
        let ours = parse(text).unwrap();
        let through_serde: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, through_serde);
        let written = serde_json::to_string(&ours).unwrap();
        assert_eq!(parse(&written).unwrap(), ours);
        assert!(serde_json::from_str::<Value>(r#"{"a":1,"a":2}"#).is_err());
    }
}
