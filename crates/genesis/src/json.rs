//! Reading geth-format JSON values: hex or decimal quantities, `0x` byte strings, and keys
//! matched as Go's `encoding/json` matches them (exact first, then ASCII case-insensitively).

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A JSON object with the dotted path that led to it, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj<'a> {
    path: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Wraps `value` (at `path`) as an object, or fails naming `path`.
    pub(crate) fn new(path: &'a str, value: &'a Value) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            _ => Err(invalid(path, "expected a JSON object")),
        }
    }

    /// The dotted path of `key` under this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value at `key`; `null` counts as absent, as in Go.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        let found = self.map.get(key).or_else(|| {
            self.map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        });
        found.filter(|v| !v.is_null())
    }

    /// The entries of this object.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// A `u64` quantity (JSON number, `"0x…"` hex or decimal string).
    pub(crate) fn u64(&self, key: &str) -> Result<Option<u64>> {
        self.get(key)
            .map(|v| quantity_u64(&self.path_of(key), v))
            .transpose()
    }

    /// A 256-bit quantity.
    pub(crate) fn u256(&self, key: &str) -> Result<Option<U256>> {
        self.get(key)
            .map(|v| quantity_u256(&self.path_of(key), v))
            .transpose()
    }

    /// A byte string (`"0x…"`, even length).
    pub(crate) fn bytes(&self, key: &str) -> Result<Option<Bytes>> {
        self.get(key)
            .map(|v| bytes(&self.path_of(key), v))
            .transpose()
    }

    /// A 32-byte hash.
    pub(crate) fn b256(&self, key: &str) -> Result<Option<B256>> {
        self.get(key)
            .map(|v| {
                let path = self.path_of(key);
                let raw = bytes(&path, v)?;
                B256::try_from(raw.as_ref()).map_err(|_| invalid(&path, "expected 32 bytes"))
            })
            .transpose()
    }

    /// A 20-byte address (`0x` optional).
    pub(crate) fn address(&self, key: &str) -> Result<Option<Address>> {
        self.get(key)
            .map(|v| {
                let path = self.path_of(key);
                match v {
                    Value::String(s) => address(&path, s),
                    _ => Err(invalid(&path, "expected a 20-byte hex address string")),
                }
            })
            .transpose()
    }

    /// A boolean.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| invalid(&self.path_of(key), "expected true or false"))
            })
            .transpose()
    }

    /// Whether `key` is present and not null.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// An [`Error::InvalidField`] for `path`.
pub(crate) fn invalid(path: &str, reason: &'static str) -> Error {
    Error::InvalidField {
        field: path.to_owned(),
        reason,
    }
}

/// Parses a 20-byte address, `0x` optional (geth's `UnprefixedAddress` for alloc keys).
pub(crate) fn address(path: &str, s: &str) -> Result<Address> {
    let digits = strip_0x(s);
    if digits.len() != 40 {
        return Err(invalid(
            path,
            "expected a 20-byte hex address (40 hex digits)",
        ));
    }
    let raw = decode_hex(digits).ok_or_else(|| invalid(path, "expected hex digits"))?;
    Ok(Address::from_slice(&raw))
}

/// A `u64` quantity: a JSON integer, or a string in hex (`0x` prefix) or decimal.
pub(crate) fn quantity_u64(path: &str, value: &Value) -> Result<u64> {
    let wide = quantity_u256(path, value)?;
    u64::try_from(wide).map_err(|_| invalid(path, "the value does not fit in 64 bits"))
}

/// A 256-bit quantity: a JSON integer, or a string in hex (`0x` prefix) or decimal.
pub(crate) fn quantity_u256(path: &str, value: &Value) -> Result<U256> {
    match value {
        Value::Number(n) => n.as_u64().map(U256::from).ok_or_else(|| {
            invalid(
                path,
                "expected a non-negative integer; quote values above 2^64 as \"0x…\" strings",
            )
        }),
        Value::String(s) => parse_quantity(s).ok_or_else(|| {
            invalid(
                path,
                "expected a non-negative integer in hex (0x…) or decimal below 2^256",
            )
        }),
        _ => Err(invalid(path, "expected a number or a hex/decimal string")),
    }
}

/// A `0x` byte string of even length (the prefix may be omitted).
pub(crate) fn bytes(path: &str, value: &Value) -> Result<Bytes> {
    let Value::String(s) = value else {
        return Err(invalid(path, "expected a 0x-prefixed hex string"));
    };
    let digits = strip_0x(s);
    if !digits.len().is_multiple_of(2) {
        return Err(invalid(path, "odd number of hex digits"));
    }
    decode_hex(digits)
        .map(Bytes::from)
        .ok_or_else(|| invalid(path, "expected hex digits"))
}

/// A storage word as geth's `storageJSON` reads it: up to 32 bytes of hex, left-padded.
pub(crate) fn storage_word(path: &str, s: &str) -> Result<B256> {
    let digits = strip_0x(s);
    if digits.len() > 64 {
        return Err(invalid(path, "a storage key or value is at most 32 bytes"));
    }
    let padded = format!("{digits:0>64}");
    let raw = decode_hex(&padded).ok_or_else(|| invalid(path, "expected hex digits"))?;
    Ok(B256::from_slice(&raw))
}

fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

fn parse_quantity(s: &str) -> Option<U256> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() {
            return Some(U256::ZERO);
        }
        U256::from_str_radix(hex, 16).ok()
    } else if s.is_empty() {
        Some(U256::ZERO)
    } else if s.bytes().all(|b| b.is_ascii_digit()) {
        U256::from_str_radix(s, 10).ok()
    } else {
        None
    }
}

fn decode_hex(digits: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_hex_decimal_and_numbers() {
        let v = json!({"a": "0x10", "b": "16", "c": 16, "d": "0x", "e": "0X0a"});
        let o = Obj::new("", &v).unwrap();
        for k in ["a", "b", "c"] {
            assert_eq!(o.u64(k).unwrap(), Some(16));
        }
        assert_eq!(o.u64("d").unwrap(), Some(0));
        assert_eq!(o.u64("e").unwrap(), Some(10));
    }

    #[test]
    fn accepts_keys_case_insensitively_preferring_exact() {
        let v = json!({"mixhash": "0x01", "MixHash": "0x02", "gaslimit": 5});
        let o = Obj::new("", &v).unwrap();
        assert_eq!(o.u64("gasLimit").unwrap(), Some(5));
        assert_eq!(o.bytes("MixHash").unwrap().unwrap().as_ref(), &[2]);
    }

    #[test]
    fn rejects_bad_quantities_naming_the_field() {
        let v = json!({"x": {"y": "0xzz", "n": -1, "big": "0x10000000000000000", "f": 1.5}});
        let root = Obj::new("", &v).unwrap();
        let inner = root.get("x").unwrap();
        let o = Obj::new("x", inner).unwrap();
        for key in ["y", "n", "big", "f"] {
            let err = o.u64(key).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidField { field, .. } if *field == format!("x.{key}")),
                "{err}"
            );
        }
    }

    #[test]
    fn rejects_odd_and_non_hex_bytes() {
        let v = json!({"a": "0x123", "b": "0xgg", "c": 5});
        let o = Obj::new("", &v).unwrap();
        assert!(o.bytes("a").is_err());
        assert!(o.bytes("b").is_err());
        assert!(o.bytes("c").is_err());
    }

    #[test]
    fn accepts_short_storage_words_left_padded() {
        let w = storage_word("s", "0x1").unwrap();
        assert_eq!(w, B256::with_last_byte(1));
        assert!(storage_word("s", &format!("0x{}", "1".repeat(65))).is_err());
    }
}
