//! Canonical JSON (RFC 8785, JCS) for hash pre-images.
//!
//! One deliberate departure: RFC 8785 reads every number as an IEEE-754 double, so two numbers
//! that differ past the 17th digit (or beyond the double range) would hash alike and a change to
//! them would go unseen. A number whose decimal value is not the double that JCS would print is
//! written instead as its exact normalised decimal, `[-]D[.DDD]eN` (no `+` in the exponent, which
//! JCS always prints, so the two forms never meet). Every I-JSON number is canonicalised exactly as
//! RFC 8785 says.

use serde_json::Value;

/// A JSON document that can write its own RFC 8785 form: serde_json's `Value` here, the
/// stored `jsonb` in the extension, which walks its binary form instead of printing and parsing
/// text. Both share the scalar and key-order rules below.
pub trait Canonical {
    /// Appends the canonical form to `out`.
    fn write_canonical(&self, out: &mut String);
}

impl Canonical for Value {
    fn write_canonical(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => write_number(&n.to_string(), out),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => write_array(items.iter(), out, |v, out| v.write_canonical(out)),
            Value::Object(map) => {
                let mut members: Vec<(&str, &Value)> =
                    map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                write_object(&mut members, out, |v, out| v.write_canonical(out));
            }
        }
    }
}

/// An absent value is JSON null.
impl<T: Canonical> Canonical for Option<T> {
    fn write_canonical(&self, out: &mut String) {
        match self {
            Some(v) => v.write_canonical(out),
            None => out.push_str("null"),
        }
    }
}

/// Appends the canonical form of `value` to `out`.
pub fn write_canonical(value: &impl Canonical, out: &mut String) {
    value.write_canonical(out);
}

/// `[a,b,...]`, each element written by `write`.
pub fn write_array<T>(
    items: impl Iterator<Item = T>,
    out: &mut String,
    mut write: impl FnMut(T, &mut String),
) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(item, out);
    }
    out.push(']');
}

/// `{"k":v,...}` with the members in RFC 8785 order, the keys compared as UTF-16 code units.
/// `members` may come in any order; they are sorted in place.
pub fn write_object<V>(
    members: &mut [(&str, V)],
    out: &mut String,
    mut write: impl FnMut(&V, &mut String),
) {
    // Byte order is UTF-16 order unless a key holds a character beyond U+FFFF (a 4-byte UTF-8
    // sequence, lead byte >= 0xF0); only then are the code units compared.
    if members.iter().any(|(k, _)| k.bytes().any(|b| b >= 0xF0)) {
        members.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    } else if !members.is_sorted_by(|a, b| a.0 <= b.0) {
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write(v, out);
    }
    out.push('}');
}

/// The canonical form of `value` as a string.
pub fn to_canonical_string(value: &impl Canonical) -> String {
    let mut out = String::with_capacity(256);
    value.write_canonical(&mut out);
    out
}

/// A JSON string escaped as ECMAScript's JSON.stringify does: \" \\ \b \f \n \r \t, other
/// control characters as lowercase \u00xx, everything else verbatim.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A JSON number, given as its text, in canonical form.
pub fn write_number(text: &str, out: &mut String) {
    // Fast path: an integer of at most 15 digits is exactly a double, and JCS prints it as is.
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
    {
        out.push_str(if text == "-0" { "0" } else { text });
        return;
    }
    let exact = Decimal::parse(text);
    if let Some(dec) = &exact {
        if dec.digits.is_empty() {
            out.push('0');
            return;
        }
    }
    if let Ok(f) = text.parse::<f64>() {
        if f.is_finite() {
            let mut buf = ryu_js::Buffer::new();
            let js = buf.format_finite(f);
            if exact.is_none() || Decimal::parse(js) == exact {
                out.push_str(js);
                return;
            }
        }
    }
    match exact {
        Some(dec) => dec.write_exact(out),
        // serde_json only yields valid JSON numbers, which always parse.
        None => out.push_str(text),
    }
}

/// A decimal number as sign, significant digits (no leading or trailing zeros) and the power of
/// ten of the first digit.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty()
            || !int_part
                .bytes()
                .chain(frac_part.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let all: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let lead = all.iter().take_while(|d| **d == 0).count();
        let trail = all.iter().rev().take_while(|d| **d == 0).count();
        if lead == all.len() {
            return Some(Decimal {
                negative: false,
                digits: Vec::new(),
                exponent: 0,
            });
        }
        let digits = all[lead..all.len() - trail].to_vec();
        let exponent = int_part.len() as i64 - 1 - lead as i64 + exp;
        Some(Decimal {
            negative,
            digits,
            exponent,
        })
    }

    fn write_exact(&self, out: &mut String) {
        if self.negative {
            out.push('-');
        }
        out.push((b'0' + self.digits[0]) as char);
        if self.digits.len() > 1 {
            out.push('.');
            out.extend(self.digits[1..].iter().map(|d| (b'0' + d) as char));
        }
        out.push('e');
        out.push_str(&self.exponent.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        to_canonical_string(&serde_json::from_str::<Value>(text).unwrap())
    }

    #[test]
    fn sorts_keys_by_utf16_and_strips_whitespace() {
        assert_eq!(
            canon(r#"{ "b": 1, "a": [true, null, "x"] }"#),
            r#"{"a":[true,null,"x"],"b":1}"#
        );
        // U+10000 sorts before U+E000 in UTF-16 (surrogates are 0xD800..), after it by code point.
        let v = json!({"\u{e000}": 1, "\u{10000}": 2});
        assert_eq!(to_canonical_string(&v), "{\"\u{10000}\":2,\"\u{e000}\":1}");
    }

    #[test]
    fn rfc8785_numbers() {
        // Examples from RFC 8785 appendix B.
        for (input, want) in [
            ("0", "0"),
            ("-0", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("1.0", "1"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("333333333.3333333", "333333333.3333333"),
            ("-5e-324", "-5e-324"),
            ("9007199254740992", "9007199254740992"),
            ("295147905179352830000", "295147905179352830000"),
        ] {
            assert_eq!(canon(input), want, "input {input}");
        }
    }

    #[test]
    fn numbers_no_double_holds_stay_distinct() {
        let a = canon("12345678901234567890123");
        let b = canon("12345678901234567890124");
        assert_ne!(a, b);
        assert_eq!(a, "1.2345678901234567890123e22");
        assert_eq!(canon("0.10000000000000001"), "1.0000000000000001e-1");
        assert_eq!(canon("333333333.33333329"), "3.3333333333333329e8");
        assert_eq!(canon("1e400"), "1e400");
        // The same value written differently canonicalises the same.
        assert_eq!(canon("1.50e2"), canon("150"));
    }

    #[test]
    fn string_escaping_matches_serde_json_for_every_ascii_byte() {
        let all: String = (0u8..0x80)
            .map(char::from)
            .chain("é\u{2028}\u{10348}".chars())
            .collect();
        for (i, _) in all.char_indices() {
            let s = &all[i..];
            let mut out = String::new();
            write_string(s, &mut out);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn integers_take_the_fast_path_unchanged() {
        for (input, want) in [
            ("-0", "0"),
            ("0", "0"),
            ("-12", "-12"),
            ("123456789012345", "123456789012345"),
        ] {
            assert_eq!(canon(input), want);
        }
        // 16 digits and more go through the double, as JCS says.
        assert_eq!(canon("1234567890123456"), "1234567890123456");
        assert_eq!(canon("12345678901234567"), "1.2345678901234567e16");
    }

    #[test]
    fn escapes_strings_like_json_stringify() {
        assert_eq!(canon(r#""a\u0001\n\"\\/é""#), "\"a\\u0001\\n\\\"\\\\/é\"");
    }
}
