//! Reads a JSON-RPC body once, into the [`Value`] every front check looks at (the message's
//! shape, a listen's resources, a read-only key's scope), and notes the first key an object
//! in it gives twice: two parsers may keep different copies of one (rmcp reads such a body as
//! nothing it knows, `Value` as its last copy), so none of those checks may trust it.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A body read as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The body; where a key is given twice, its last copy.
    pub value: Value,
    /// The first key an object gives twice, in reading order.
    pub(super) repeated: Option<Repeated>,
}

/// Where the first key given twice is, with the reader's words for it (which say where).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Repeated {
    /// In the message's own keys or anywhere outside its `params` (or anywhere in a body
    /// that is not one message object): which message was meant is unknown.
    Message(String),
    /// Only inside the `params` of a message whose own keys are each given once: the
    /// message can be read, and only its params are wrong.
    Params(String),
}

impl Parsed {
    /// Reads `body`, once unless a key is given twice; an error only when it is not JSON.
    pub fn read(body: &[u8]) -> Result<Parsed, serde_json::Error> {
        let found = Cell::new(None);
        let mut json = serde_json::Deserializer::from_slice(body);
        let read = Reader::top(Some(&found))
            .deserialize(&mut json)
            .and_then(|value| json.end().map(|()| value));
        let (twice, place) = match (read, found.get()) {
            (Ok(value), _) => {
                return Ok(Parsed {
                    value,
                    repeated: None,
                });
            }
            (Err(e), None) => return Err(e),
            (Err(twice), Some(place)) => (twice, place),
        };
        // The repeated key stopped the read. The rest is read too: JSON that breaks off after
        // it is not JSON, which comes first.
        let mut json = serde_json::Deserializer::from_slice(body);
        let value = Reader::top(None).deserialize(&mut json)?;
        json.end()?;
        let repeated = match place {
            // The message's own keys decide first: one given twice there too (later in the
            // body) makes the message unreadable, whatever its params hold.
            Place::Params => match serde_json::from_slice::<EnvelopeKeys>(body) {
                Err(envelope) => Repeated::Message(envelope.to_string()),
                Ok(EnvelopeKeys) => Repeated::Params(twice.to_string()),
            },
            Place::Top | Place::Message => Repeated::Message(twice.to_string()),
        };
        Ok(Parsed {
            value,
            repeated: Some(repeated),
        })
    }

    /// Whether an object in it gives a key twice.
    pub fn repeats_a_key(&self) -> bool {
        self.repeated.is_some()
    }
}

/// Where in the body a value is, for what a key given twice in it means.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// The body itself: the message, when it is an object.
    Top,
    /// Inside the message's `params`.
    Params,
    /// Anywhere else.
    Message,
}

/// Builds the [`Value`] `serde_json` would; while `found` is given, stops at the first key
/// given twice and notes where it was.
#[derive(Clone, Copy)]
struct Reader<'a> {
    found: Option<&'a Cell<Option<Place>>>,
    place: Place,
}

impl<'a> Reader<'a> {
    fn top(found: Option<&'a Cell<Option<Place>>>) -> Self {
        Reader {
            found,
            place: Place::Top,
        }
    }

    /// The reader for a value inside this one, under `key` when it is an object's.
    fn inside(self, key: Option<&str>) -> Self {
        let place = match self.place {
            Place::Top if key == Some("params") => Place::Params,
            Place::Top => Place::Message,
            inner => inner,
        };
        Reader { place, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for Reader<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Reader<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(found) = self.found
                && object.contains_key(&key)
            {
                found.set(Some(match self.place {
                    Place::Top => Place::Message,
                    inner => inner,
                }));
                return Err(twice(&key));
            }
            let value = map.next_value_seed(self.inside(Some(&key)))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.inside(None))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Reads a JSON-RPC message's own keys only (skipping their values), to refuse one given twice.
struct EnvelopeKeys;

impl<'de> serde::Deserialize<'de> for EnvelopeKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = EnvelopeKeys;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON-RPC message")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EnvelopeKeys, A::Error> {
                let mut seen = HashSet::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if !seen.insert(key.to_string()) {
                        return Err(twice(&key));
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(EnvelopeKeys)
            }
        }
        d.deserialize_map(Keys)
    }
}

fn twice<E: de::Error>(key: &str) -> E {
    E::custom(format_args!(
        "key `{}` appears twice in one object",
        crate::quote::quoted(key)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_as_serde_json_reads_it() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"subscriptions\/listen","params":{"a":[1,-2,3.5,1e3,18446744073709551615,true,null,"\u00e9\ud83d\ude00"]}}"#,
            r#"[{"a":{}},[],"x",0,-0.0]"#,
            "  5  ",
            "null",
        ] {
            let want: Value = serde_json::from_slice(body.as_bytes()).expect("JSON");
            let got = Parsed::read(body.as_bytes()).expect("JSON");
            assert_eq!(got.value, want, "{body}");
            assert!(!got.repeats_a_key(), "{body}");
        }
        let listen = Parsed::read(br#"{"method":"subscriptions\/listen"}"#).expect("JSON");
        assert_eq!(listen.value["method"], "subscriptions/listen");
    }

    #[test]
    fn a_key_given_twice_is_placed_and_its_last_copy_kept() {
        let params = |message: &str| Some(Repeated::Params(message.to_string()));
        for (body, place) in [
            (r#"{"id":1,"id":2}"#, "message"),
            (r#"{"params":{},"params":{"a":1}}"#, "message"),
            (r#"{"x":{"b":1,"b":2}}"#, "message"),
            (r#"[{"params":{"a":1,"a":2}}]"#, "message"),
            (r#"{"params":{"a":1,"a":2},"id":1,"id":2}"#, "message"),
            (r#"{"params":{"a":[{"k":1,"k":2}]}}"#, "params"),
        ] {
            let read = Parsed::read(body.as_bytes()).expect("JSON");
            let want: Value = serde_json::from_slice(body.as_bytes()).expect("JSON");
            assert_eq!(read.value, want, "{body}");
            match (&read.repeated, place) {
                (Some(Repeated::Message(_)), "message") | (Some(Repeated::Params(_)), "params") => {
                }
                (got, _) => panic!("{body}: {got:?}, expected in {place}"),
            }
        }
        let read = Parsed::read(br#"{"params":{"a":1,"a":2}}"#).expect("JSON");
        assert_eq!(
            read.repeated,
            params("key `a` appears twice in one object at line 1 column 20")
        );
    }

    #[test]
    fn a_body_that_breaks_off_after_a_key_given_twice_is_not_json() {
        for body in [r#"{"id":1,"id":2,"#, r#"{"id":1,"id":2} x"#] {
            assert!(Parsed::read(body.as_bytes()).is_err(), "{body}");
        }
    }
}
