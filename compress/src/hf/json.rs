//! Reading JSON files and typed fields, with errors naming the file and the field.

use std::path::Path;

use serde_json::{Map, Value};

use crate::CompressError;

/// Parses a JSON file; a missing file is an error naming it.
pub(crate) fn read_json(path: &Path) -> Result<Value, CompressError> {
    let text = crate::input_file::read_text(path, crate::input_file::JSON_LIMIT)?;
    serde_json::from_str(&text)
        .map_err(|e| CompressError::input(path, format!("not valid JSON: {e}")))
}

/// A JSON object with typed getters: an absent or null field is `None`, a field of the
/// wrong type is an error.
pub(crate) struct Obj<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// `v` as an object; `what` names it in the error otherwise.
    pub(crate) fn new(path: &'a Path, v: &'a Value, what: &str) -> Result<Obj<'a>, CompressError> {
        match v {
            Value::Object(map) => Ok(Obj { path, map }),
            _ => Err(CompressError::input(
                path,
                format!("{what} is not a JSON object"),
            )),
        }
    }

    pub(crate) fn from_map(path: &'a Path, map: &'a Map<String, Value>) -> Obj<'a> {
        Obj { path, map }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> CompressError {
        CompressError::input(self.path, format!("`{key}` should be {want}, found {got}"))
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, CompressError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, CompressError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, CompressError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a non-negative integer below 2^32", v)),
        }
    }

    pub(crate) fn req_u32(&self, key: &str) -> Result<u32, CompressError> {
        self.u32(key)?
            .ok_or_else(|| CompressError::input(self.path, format!("`{key}` is missing")))
    }

    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, CompressError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a number", v)),
        }
    }
}
