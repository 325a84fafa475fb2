//! serde values in PostgreSQL's on-disk `jsonb` layout (PostgreSQL 15, `utils/jsonb.h`), so that
//! the batch insert hands the database finished jsonb instead of text for it to parse.
//!
//! A container is a `u32` header (count | object/array/scalar flag), one `JEntry` per child (for
//! objects every key, then every value), then the children's data. A `JEntry` holds a type and the
//! child's length, or for every 32nd child the end offset of its data. Numerics and containers
//! start at 4-byte boundaries of the whole datum, and their padding counts as their data. Object
//! keys are sorted by length, then bytes, and are unique. The numeric bytes come from the caller
//! (PostgreSQL's own `numeric_in`), since their layout is PostgreSQL's to choose.

use serde_json::Value;

const JB_FSCALAR: u32 = 0x1000_0000;
const JB_FOBJECT: u32 = 0x2000_0000;
const JB_FARRAY: u32 = 0x4000_0000;
const JENTRY_OFFLENMASK: u32 = 0x0FFF_FFFF;
const JENTRY_HAS_OFF: u32 = 0x8000_0000;
const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;
const JENTRY_ISCONTAINER: u32 = 0x5000_0000;
const JB_OFFSET_STRIDE: usize = 32;
const VARHDRSZ: usize = 4;

/// The jsonb datum for `v`, varlena header included (4-byte, little-endian form). `numeric`
/// returns the varlena bytes of PostgreSQL's numeric for a JSON number's text. Errs when a
/// container's data exceeds jsonb's 256 MB limit.
#[cfg(target_endian = "little")]
pub fn encode(v: &Value, numeric: &mut dyn FnMut(&str) -> Vec<u8>) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; VARHDRSZ];
    let mut enc = Encoder {
        buf: &mut buf,
        numeric,
    };
    match v {
        Value::Object(_) | Value::Array(_) => {
            enc.value(v)?;
        }
        // A scalar document is a one-element array flagged as a scalar.
        scalar => {
            enc.container(JB_FARRAY | JB_FSCALAR, 1, |enc, entries| {
                let e = enc.value(scalar)?;
                entries.push(e);
                Ok(())
            })?;
        }
    }
    let len = buf.len() as u32;
    buf[..VARHDRSZ].copy_from_slice(&(len << 2).to_le_bytes());
    Ok(buf)
}

struct Encoder<'a> {
    buf: &'a mut Vec<u8>,
    numeric: &'a mut dyn FnMut(&str) -> Vec<u8>,
}

impl Encoder<'_> {
    fn pad(&mut self) -> u32 {
        let pad = (4 - self.buf.len() % 4) % 4;
        self.buf.resize(self.buf.len() + pad, 0);
        pad as u32
    }

    /// Writes `v`'s data and returns its JEntry (with its length).
    fn value(&mut self, v: &Value) -> Result<u32, String> {
        Ok(match v {
            Value::Null => JENTRY_ISNULL,
            Value::Bool(true) => JENTRY_ISBOOL_TRUE,
            Value::Bool(false) => JENTRY_ISBOOL_FALSE,
            Value::String(s) => self.string(s),
            Value::Number(n) => {
                let bytes = (self.numeric)(&n.to_string());
                let pad = self.pad();
                self.buf.extend_from_slice(&bytes);
                JENTRY_ISNUMERIC | (pad + bytes.len() as u32)
            }
            Value::Array(items) => self.container(JB_FARRAY, items.len(), |enc, entries| {
                for item in items {
                    let e = enc.value(item)?;
                    entries.push(e);
                }
                Ok(())
            })?,
            Value::Object(map) => {
                let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
                pairs.sort_unstable_by(|a, b| {
                    (a.0.len(), a.0.as_bytes()).cmp(&(b.0.len(), b.0.as_bytes()))
                });
                self.container(JB_FOBJECT, pairs.len(), |enc, entries| {
                    for (k, _) in &pairs {
                        let e = enc.string(k);
                        entries.push(e);
                    }
                    for (_, item) in &pairs {
                        let e = enc.value(item)?;
                        entries.push(e);
                    }
                    Ok(())
                })?
            }
        })
    }

    fn string(&mut self, s: &str) -> u32 {
        self.buf.extend_from_slice(s.as_bytes());
        s.len() as u32
    }

    /// A container of `count` children (pairs, for an object): header, then the JEntries once
    /// `children` has written the data and returned each child's JEntry.
    fn container(
        &mut self,
        flags: u32,
        count: usize,
        children: impl FnOnce(&mut Self, &mut Vec<u32>) -> Result<(), String>,
    ) -> Result<u32, String> {
        let start = self.buf.len();
        self.pad();
        self.buf
            .extend_from_slice(&(count as u32 | flags).to_le_bytes());
        let entries_at = self.buf.len();
        let n_entries = if flags & JB_FOBJECT != 0 {
            count * 2
        } else {
            count
        };
        self.buf.resize(entries_at + 4 * n_entries, 0);
        let mut entries = Vec::with_capacity(n_entries);
        children(self, &mut entries)?;
        let mut total: u32 = 0;
        for (i, e) in entries.iter().enumerate() {
            total += e & JENTRY_OFFLENMASK;
            if total > JENTRY_OFFLENMASK {
                return Err("a JSON value is over jsonb's size limit".into());
            }
            let e = if i % JB_OFFSET_STRIDE == 0 {
                (e & !JENTRY_OFFLENMASK) | total | JENTRY_HAS_OFF
            } else {
                *e
            };
            self.buf[entries_at + 4 * i..entries_at + 4 * i + 4].copy_from_slice(&e.to_le_bytes());
        }
        let len = (self.buf.len() - start) as u32;
        if len > JENTRY_OFFLENMASK {
            return Err("a JSON value is over jsonb's size limit".into());
        }
        Ok(JENTRY_ISCONTAINER | len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stand-in for numeric_in: a 4-byte varlena header and the text, enough to check layout.
    fn fake_numeric(text: &str) -> Vec<u8> {
        let mut v = (((4 + text.len()) as u32) << 2).to_le_bytes().to_vec();
        v.extend_from_slice(text.as_bytes());
        v
    }

    fn enc(v: &Value) -> Vec<u8> {
        encode(v, &mut fake_numeric).unwrap()
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn object_layout_matches_postgres() {
        // '{"bb": true, "a": "x"}'::jsonb: keys by length, then bytes: "a", "bb".
        let b = enc(&json!({"bb": true, "a": "x"}));
        assert_eq!(u32_at(&b, 0) >> 2, b.len() as u32);
        assert_eq!(u32_at(&b, 4), 2 | JB_FOBJECT);
        // key "a": offset 1 (stride position 0); key "bb": length 2; value "x": length 1;
        // value true: no data.
        assert_eq!(u32_at(&b, 8), JENTRY_HAS_OFF | 1);
        assert_eq!(u32_at(&b, 12), 2);
        assert_eq!(u32_at(&b, 16), 1);
        assert_eq!(u32_at(&b, 20), JENTRY_ISBOOL_TRUE);
        assert_eq!(&b[24..], b"abbx");
    }

    #[test]
    fn scalars_are_flagged_one_element_arrays() {
        let b = enc(&json!("hi"));
        assert_eq!(u32_at(&b, 4), 1 | JB_FARRAY | JB_FSCALAR);
        assert_eq!(u32_at(&b, 8), JENTRY_HAS_OFF | 2);
        assert_eq!(&b[12..], b"hi");
    }

    #[test]
    fn numerics_and_containers_are_aligned_and_their_padding_counted() {
        let b = enc(&json!(["abc", 5, [null]]));
        // header at 4, three JEntries at 8..20, "abc" at 20..23, pad 1, numeric (5 bytes) at
        // 24..29, pad 3, inner array at 32.
        assert_eq!(&b[20..23], b"abc");
        assert_eq!(u32_at(&b, 8), JENTRY_HAS_OFF | 3);
        assert_eq!(u32_at(&b, 12), JENTRY_ISNUMERIC | (1 + 5));
        assert_eq!(&b[24..29], &fake_numeric("5")[..]);
        assert_eq!(u32_at(&b, 16), JENTRY_ISCONTAINER | (3 + 8));
        assert_eq!(u32_at(&b, 32), 1 | JB_FARRAY);
        assert_eq!(u32_at(&b, 36), JENTRY_HAS_OFF | JENTRY_ISNULL);
        assert_eq!(b.len(), 40);
    }

    #[test]
    fn every_32nd_entry_holds_an_offset() {
        let items: Vec<Value> = (0..40).map(|_| json!("xy")).collect();
        let b = enc(&Value::Array(items));
        for i in 0..40 {
            let e = u32_at(&b, 8 + 4 * i);
            if i % 32 == 0 {
                assert_eq!(e, JENTRY_HAS_OFF | (2 * (i as u32 + 1)), "entry {i}");
            } else {
                assert_eq!(e, 2, "entry {i}");
            }
        }
    }
}
