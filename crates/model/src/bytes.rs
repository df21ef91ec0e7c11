//! A payload's bytes in a stored record or an event: a base64 string (RFC 4648, with
//! padding), 4 characters per 3 bytes. Before, serde's default wrote them as a JSON array
//! of numbers, up to 4 characters per byte; a record written that way still reads.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&STANDARD.encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_any(Payload)
}

struct Payload;

impl<'de> Visitor<'de> for Payload {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a base64 string (or an array of bytes)")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        STANDARD.decode(text).map_err(|e| E::custom(format!("not base64: {e}")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Spec {
        #[serde(with = "super")]
        payload: Vec<u8>,
    }

    #[test]
    fn bytes_are_base64_and_an_old_array_still_reads() {
        let spec = Spec { payload: b"{\"duration_ms\":10}".to_vec() };
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(text, r#"{"payload":"eyJkdXJhdGlvbl9tcyI6MTB9"}"#);
        assert_eq!(serde_json::from_str::<Spec>(&text).unwrap(), spec);
        let old = r#"{"payload":[123,34,100,117,114,97,116,105,111,110,95,109,115,34,58,49,48,125]}"#;
        assert_eq!(serde_json::from_str::<Spec>(old).unwrap(), spec);
        assert!(serde_json::from_str::<Spec>(r#"{"payload":"not base64!"}"#).is_err());
        let big = Spec { payload: vec![0xff; 3000] };
        assert_eq!(serde_json::to_string(&big).unwrap().len(), 4000 + r#"{"payload":""}"#.len());
    }
}
