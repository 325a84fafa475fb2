//! jsonb without the round trip through text, both ways: stored jsonb written in canonical form
//! straight from its binary layout (verification hashes every sealed event again), and jsonb
//! built straight from serde values (the batch insert). Printing and re-parsing was most of
//! either cost.

use auditlog_core::canonical::{write_array, write_number, write_object, write_string, Canonical};
use auditlog_core::jsonb_layout;
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pg_sys::{self, JsonbIteratorToken as Tok};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable,
};
use pgrx::prelude::*;
use serde_json::Value;
use std::ffi::CStr;

/// A detoasted `jsonb` argument, valid for the call it was passed to.
pub struct StoredJsonb(*mut pg_sys::Jsonb);

impl FromDatum for StoredJsonb {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then(|| StoredJsonb(pg_sys::pg_detoast_datum(datum.cast_mut_ptr()).cast()))
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for StoredJsonb {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        arg.unbox_arg_using_from_datum()
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }
}

unsafe impl SqlTranslatable for StoredJsonb {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(StoredJsonb);
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}

impl Canonical for StoredJsonb {
    fn write_canonical(&self, out: &mut String) {
        // SAFETY: the pointer is a detoasted jsonb that lives for the whole function call.
        unsafe { write_container(&raw mut (*self.0).root, out) }
    }
}

fn next(it: &mut *mut pg_sys::JsonbIterator, v: &mut pg_sys::JsonbValue) -> Tok::Type {
    // Nested containers come back whole (jbvBinary) and are written by a fresh iterator, so
    // an object's members can be sorted before any of them is written.
    unsafe { pg_sys::JsonbIteratorNext(it, v, true) }
}

/// A container's children: a raw scalar document's one value, an array's elements or an
/// object's members (in jsonb's key order).
enum Children<'a> {
    Scalar(pg_sys::JsonbValue),
    Array(Vec<pg_sys::JsonbValue>),
    Object(Vec<(&'a str, pg_sys::JsonbValue)>),
}

unsafe fn children<'a>(container: *mut pg_sys::JsonbContainer) -> Children<'a> {
    let mut it = pg_sys::JsonbIteratorInit(container);
    let mut v: pg_sys::JsonbValue = std::mem::zeroed();
    match next(&mut it, &mut v) {
        Tok::WJB_BEGIN_ARRAY => {
            let scalar = v.val.array.rawScalar;
            let mut elems = Vec::new();
            while next(&mut it, &mut v) == Tok::WJB_ELEM {
                elems.push(v);
            }
            match (scalar, elems.as_slice()) {
                (true, [only]) => Children::Scalar(*only),
                _ => Children::Array(elems),
            }
        }
        Tok::WJB_BEGIN_OBJECT => {
            let mut members = Vec::new();
            let mut key = "";
            loop {
                match next(&mut it, &mut v) {
                    Tok::WJB_KEY => key = text(&v),
                    Tok::WJB_VALUE => members.push((key, v)),
                    _ => break,
                }
            }
            Children::Object(members)
        }
        other => error!("unexpected jsonb token {other}"),
    }
}

unsafe fn write_container(container: *mut pg_sys::JsonbContainer, out: &mut String) {
    match children(container) {
        Children::Scalar(v) => write_value(&v, out),
        Children::Array(elems) => write_array(elems.iter(), out, |e, out| write_value(e, out)),
        Children::Object(mut members) => {
            write_object(&mut members, out, |v, out| write_value(v, out))
        }
    }
}

unsafe fn text<'a>(v: &pg_sys::JsonbValue) -> &'a str {
    let s = v.val.string;
    let bytes = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
    std::str::from_utf8(bytes).unwrap_or_else(|_| error!("jsonb string is not valid UTF-8"))
}

/// A numeric's text, as jsonb_out prints it.
unsafe fn numeric_text(v: &pg_sys::JsonbValue) -> String {
    let datum = pg_sys::Datum::from(v.val.numeric);
    let cstr = pgrx::direct_function_call::<&CStr>(pg_sys::numeric_out, &[Some(datum)])
        .expect("numeric_out returns a string");
    let text = cstr.to_str().expect("numeric text is ASCII").to_string();
    pg_sys::pfree(cstr.as_ptr().cast_mut().cast());
    text
}

unsafe fn write_value(v: &pg_sys::JsonbValue, out: &mut String) {
    match v.type_ {
        pg_sys::jbvType::jbvNull => out.push_str("null"),
        pg_sys::jbvType::jbvBool => out.push_str(if v.val.boolean { "true" } else { "false" }),
        pg_sys::jbvType::jbvString => write_string(text(v), out),
        pg_sys::jbvType::jbvNumeric => write_number(&numeric_text(v), out),
        pg_sys::jbvType::jbvBinary => write_container(v.val.binary.data, out),
        other => error!("unexpected jsonb value type {other}"),
    }
}

impl StoredJsonb {
    /// The serde value, read from the binary form (no text in between).
    pub fn to_value(&self) -> Value {
        // SAFETY: the pointer is a detoasted jsonb that lives for the whole function call.
        unsafe { container_value(&raw mut (*self.0).root) }
    }
}

unsafe fn container_value(container: *mut pg_sys::JsonbContainer) -> Value {
    match children(container) {
        Children::Scalar(v) => value(&v),
        Children::Array(elems) => Value::Array(elems.iter().map(|e| value(e)).collect()),
        Children::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), value(v)))
                .collect(),
        ),
    }
}

unsafe fn value(v: &pg_sys::JsonbValue) -> Value {
    match v.type_ {
        pg_sys::jbvType::jbvNull => Value::Null,
        pg_sys::jbvType::jbvBool => Value::Bool(v.val.boolean),
        pg_sys::jbvType::jbvString => Value::String(text(v).to_string()),
        pg_sys::jbvType::jbvNumeric => Value::Number(
            serde_json::from_str(&numeric_text(v)).expect("numeric text is a JSON number"),
        ),
        pg_sys::jbvType::jbvBinary => container_value(v.val.binary.data),
        other => error!("unexpected jsonb value type {other}"),
    }
}

/// A jsonb built straight from a serde value in PostgreSQL's binary layout
/// (`auditlog_core::jsonb_layout`), without printing it as text for `jsonb_in` to parse again:
/// what the batch insert binds for every JSON column.
pub struct BuiltJsonb(pg_sys::Datum);

impl BuiltJsonb {
    pub fn new(v: &Value) -> BuiltJsonb {
        let bytes = jsonb_layout::encode(v, &mut numeric_bytes).unwrap_or_else(|e| error!("{e}"));
        // SAFETY: a palloc'd copy of a complete varlena, owned by the current memory context.
        unsafe {
            let p = pg_sys::palloc(bytes.len()) as *mut u8;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            BuiltJsonb(pg_sys::Datum::from(p))
        }
    }
}

/// PostgreSQL's numeric for a JSON number's text, as varlena bytes.
fn numeric_bytes(text: &str) -> Vec<u8> {
    // SAFETY: both calls return a palloc'd numeric varlena with a 4-byte header.
    unsafe {
        let n: *const u8 = match text.parse::<i64>() {
            Ok(i) => pg_sys::int64_to_numeric(i).cast(),
            Err(_) => {
                let c = std::ffi::CString::new(text).expect("a number has no NUL");
                pgrx::direct_function_call::<pg_sys::Datum>(
                    pg_sys::numeric_in,
                    &[
                        Some(pg_sys::Datum::from(c.as_ptr())),
                        Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
                        Some(pg_sys::Datum::from(-1i32)),
                    ],
                )
                .expect("numeric_in returns a value")
                .cast_mut_ptr()
            }
        };
        let len = pgrx::varsize_any(n as *const pg_sys::varlena);
        let bytes = std::slice::from_raw_parts(n, len).to_vec();
        pg_sys::pfree(n as *mut std::ffi::c_void);
        bytes
    }
}

impl IntoDatum for BuiltJsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}
