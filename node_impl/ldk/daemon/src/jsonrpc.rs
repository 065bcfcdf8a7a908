//! JSON-RPC 2.0 envelopes and typed access to a request's parameters.
//!
//! Parameters come by name (an object) or by position (an array, mapped onto the method's
//! parameter names in order), as Core Lightning accepts them.

use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Core Lightning's generic "the node could not do it" code.
pub const NODE_ERROR: i64 = -1;

/// Requests nested deeper than this are refused before they are parsed.
pub const MAX_DEPTH: usize = 64;

/// An error answer: a code and a message naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    pub fn node(message: impl Into<String>) -> Self {
        Self::new(NODE_ERROR, message)
    }
}

pub type RpcResult = Result<Value, RpcError>;

/// A parsed request: its id (echoed back), method name and raw parameters.
#[derive(Debug)]
pub struct Request {
    pub id: Value,
    pub method: String,
    pub params: Value,
}

/// Parse one request body; the error carries the id when one could be read.
pub fn parse_request(body: &[u8]) -> Result<Request, (Value, RpcError)> {
    if nesting_depth(body) > MAX_DEPTH {
        return Err((
            Value::Null,
            RpcError::new(
                INVALID_REQUEST,
                format!("request nested deeper than {MAX_DEPTH} levels"),
            ),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            Value::Null,
            RpcError::new(PARSE_ERROR, format!("request is not valid JSON: {e}")),
        )
    })?;
    let Value::Object(mut object) = value else {
        return Err((
            Value::Null,
            RpcError::new(
                INVALID_REQUEST,
                "request must be a JSON object (batches are not supported)",
            ),
        ));
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => {
            return Err((
                id,
                RpcError::new(INVALID_REQUEST, "\"method\" must be a string"),
            ))
        }
        None => {
            return Err((
                id,
                RpcError::new(INVALID_REQUEST, "request has no \"method\""),
            ))
        }
    };
    let params = object.remove("params").unwrap_or(Value::Object(Map::new()));
    if !params.is_object() && !params.is_array() && !params.is_null() {
        return Err((
            id,
            RpcError::params(format!("{method}: params must be an object or an array")),
        ));
    }
    Ok(Request { id, method, params })
}

/// The deepest nesting of arrays and objects in `body`, outside strings.
fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The answer to `id`: its result or its error.
pub fn response(id: Value, outcome: RpcResult) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id,
                             "error": {"code": error.code, "message": error.message}}),
    }
}

/// A method's parameters by name; positional ones are named in the method's order.
pub struct Params {
    method: String,
    values: Map<String, Value>,
}

impl Params {
    /// Bind `raw` to `names`; an unknown name or an extra positional value is an error.
    pub fn bind(method: &str, raw: Value, names: &[&str]) -> Result<Self, RpcError> {
        let values = match raw {
            Value::Null => Map::new(),
            Value::Object(map) => {
                if let Some(unknown) = map.keys().find(|k| !names.contains(&k.as_str())) {
                    return Err(RpcError::params(format!(
                        "{method}: unknown parameter {unknown:?} (takes: {})",
                        names.join(", ")
                    )));
                }
                map
            }
            Value::Array(list) => {
                if list.len() > names.len() {
                    return Err(RpcError::params(format!(
                        "{method}: {} positional parameters given, it takes at most {} ({})",
                        list.len(),
                        names.len(),
                        names.join(", ")
                    )));
                }
                names
                    .iter()
                    .map(|n| n.to_string())
                    .zip(list)
                    .filter(|(_, v)| !v.is_null())
                    .collect()
            }
            _ => {
                return Err(RpcError::params(format!(
                    "{method}: params must be an object or an array"
                )))
            }
        };
        Ok(Self {
            method: method.to_string(),
            values,
        })
    }

    fn error(&self, name: &str, what: &str) -> RpcError {
        RpcError::params(format!("{}: parameter {name:?} {what}", self.method))
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, RpcError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(name, "must be a string")),
        }
    }

    pub fn str(&self, name: &str) -> Result<&str, RpcError> {
        self.opt_str(name)?
            .ok_or_else(|| self.error(name, "is required"))
    }

    /// A non-negative integer, given as a JSON number or a decimal string.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, RpcError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(name, "must be a non-negative integer")),
            Some(Value::String(s)) => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| self.error(name, "must be a non-negative integer")),
            Some(_) => Err(self.error(name, "must be a non-negative integer")),
        }
    }

    pub fn u64(&self, name: &str) -> Result<u64, RpcError> {
        self.opt_u64(name)?
            .ok_or_else(|| self.error(name, "is required"))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, RpcError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(name, "must be true or false")),
        }
    }

    /// An amount in msat: an integer, "123msat", or `any_word` (e.g. "any") as None.
    pub fn amount_msat(&self, name: &str, any_word: Option<&str>) -> Result<Option<u64>, RpcError> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if Some(s.as_str()) == any_word => Ok(None),
            Some(Value::String(s)) => s
                .strip_suffix("msat")
                .unwrap_or(s)
                .parse::<u64>()
                .map(Some)
                .map_err(|_| self.error(name, "must be an amount in msat")),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(name, "must be an amount in msat")),
            Some(_) => Err(self.error(name, "must be an amount in msat")),
        }
    }

    /// Bytes given as exactly `len` bytes of hex.
    pub fn opt_hex(&self, name: &str, len: usize) -> Result<Option<Vec<u8>>, RpcError> {
        let Some(text) = self.opt_str(name)? else {
            return Ok(None);
        };
        decode_hex(text)
            .filter(|bytes| bytes.len() == len)
            .map(Some)
            .ok_or_else(|| self.error(name, &format!("must be {} hex digits", 2 * len)))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex string; None if it is not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_by_name_and_by_position() {
        let request =
            parse_request(br#"{"jsonrpc":"2.0","id":7,"method":"invoice","params":[1000,"a"]}"#)
                .unwrap();
        assert_eq!(request.id, json!(7));
        let params = Params::bind("invoice", request.params, &["amount_msat", "label"]).unwrap();
        assert_eq!(
            params.amount_msat("amount_msat", Some("any")).unwrap(),
            Some(1000)
        );
        assert_eq!(params.str("label").unwrap(), "a");
        let named =
            Params::bind("invoice", json!({"amount_msat": "any"}), &["amount_msat"]).unwrap();
        assert_eq!(named.amount_msat("amount_msat", Some("any")).unwrap(), None);
        let legacy = Params::bind("x", json!({"a": "42msat"}), &["a"]).unwrap();
        assert_eq!(legacy.amount_msat("a", None).unwrap(), Some(42));
    }

    #[test]
    fn refuses_bad_envelopes_with_their_code() {
        let code = |body: &[u8]| parse_request(body).unwrap_err().1.code;
        assert_eq!(code(b"{not json"), PARSE_ERROR);
        assert_eq!(code(b"[]"), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":5}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"a","params":3}"#), INVALID_PARAMS);
        let deep = format!(
            "{{\"method\":\"a\",\"params\":{}{}}}",
            "[".repeat(65),
            "]".repeat(65)
        );
        let (_, error) = parse_request(deep.as_bytes()).unwrap_err();
        assert!(error.message.contains("nested deeper than 64"));
        // brackets inside strings are not nesting
        let quoted = format!("{{\"method\":\"a\",\"params\":[\"{}\"]}}", "[".repeat(100));
        assert!(parse_request(quoted.as_bytes()).is_ok());
    }

    #[test]
    fn names_the_bad_parameter() {
        let unknown = Params::bind("pay", json!({"bolt12": "x"}), &["bolt11"])
            .err()
            .unwrap();
        assert_eq!(unknown.code, INVALID_PARAMS);
        assert!(unknown.message.contains("unknown parameter \"bolt12\""));
        let extra = Params::bind("pay", json!(["a", "b"]), &["bolt11"])
            .err()
            .unwrap();
        assert!(extra.message.contains("2 positional parameters"));
        let params = Params::bind(
            "m",
            json!({"n": -1, "s": 1, "b": "yes", "h": "zz"}),
            &["n", "s", "b", "h"],
        )
        .unwrap();
        assert!(params
            .u64("n")
            .unwrap_err()
            .message
            .contains("\"n\" must be a non-negative integer"));
        assert!(params
            .str("s")
            .unwrap_err()
            .message
            .contains("must be a string"));
        assert!(params
            .opt_bool("b")
            .unwrap_err()
            .message
            .contains("true or false"));
        assert!(params
            .opt_hex("h", 32)
            .unwrap_err()
            .message
            .contains("64 hex digits"));
        assert!(params
            .str("missing")
            .unwrap_err()
            .message
            .contains("is required"));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 171, 255]), "00abff");
        assert_eq!(decode_hex("00abff"), Some(vec![0, 171, 255]));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("abc"), None);
    }
}
