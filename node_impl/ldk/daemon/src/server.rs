//! JSON-RPC over HTTP (on 127.0.0.1 unless --rpc-bind says otherwise): one thread per request, HTTP Basic authentication
//! (user `rpc`, the password from DIR/rpc_secret), bounded request size.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use serde_json::Value;
use tiny_http::{Header, Request, Response, Server};

use crate::daemon::Daemon;
use crate::jsonrpc::{self, RpcError, INTERNAL_ERROR};
use crate::methods;

/// Requests larger than this are refused unread.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
pub const RPC_USER: &str = "rpc";

/// The `Authorization` header value that `secret` gives.
pub fn basic_auth(user: &str, secret: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{secret}").as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Bind the RPC port on `host`; an error names the address (e.g. port already in use).
pub fn bind(host: &str, port: u16) -> Result<Server, String> {
    Server::http((host, port)).map_err(|e| format!("cannot listen for RPC on {host}:{port}: {e}"))
}

/// Answer one request on its own thread.
pub fn handle(daemon: Arc<Daemon>, request: Request, expected_auth: Arc<String>) {
    thread::spawn(move || {
        let (request, body) = request_parts(request, &expected_auth);
        let (status, text, stop) = match body {
            Err((status, message)) => (status, message, false),
            Ok(body) => answer(&daemon, &body),
        };
        let json = Header::from_bytes("Content-Type", "application/json").expect("static header");
        let response = Response::from_string(text)
            .with_status_code(status)
            .with_header(json);
        if let Err(e) = request.respond(response) {
            log::warn!("could not send an RPC answer: {e}");
        }
        if stop {
            daemon.request_stop();
        }
    });
}

/// The request and its body, or the HTTP status and message refusing it.
fn request_parts(
    mut request: Request,
    expected_auth: &str,
) -> (Request, Result<Vec<u8>, (u16, String)>) {
    let authorized = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected_auth);
    let refused = if *request.method() != tiny_http::Method::Post {
        Some((405, "use POST".to_string()))
    } else if !authorized {
        Some((
            401,
            "wrong or missing credentials (user rpc, password in rpc_secret)".to_string(),
        ))
    } else if request.body_length().is_some_and(|n| n > MAX_REQUEST_BYTES) {
        Some((
            413,
            format!("request larger than {MAX_REQUEST_BYTES} bytes"),
        ))
    } else {
        None
    };
    if let Some(refusal) = refused {
        return (request, Err(refusal));
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut body);
    let body = match read {
        Err(e) => Err((400, format!("could not read the request: {e}"))),
        Ok(_) if body.len() > MAX_REQUEST_BYTES => Err((
            413,
            format!("request larger than {MAX_REQUEST_BYTES} bytes"),
        )),
        Ok(_) => Ok(body),
    };
    (request, body)
}

/// The HTTP status, the JSON-RPC answer and whether the daemon should stop afterwards. A
/// panic in a method is an internal error answer; the daemon stays up.
fn answer(daemon: &Daemon, body: &[u8]) -> (u16, String, bool) {
    let (id, outcome, stop) = match jsonrpc::parse_request(body) {
        Err((id, error)) => (id, Err(error), false),
        Ok(request) => {
            let method = request.method.clone();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                methods::call(daemon, &request.method, request.params)
            }))
            .unwrap_or_else(|_| {
                Err(RpcError::new(
                    INTERNAL_ERROR,
                    format!("{method}: internal error (see the log)"),
                ))
            });
            let stop = methods::is_stop(&method) && outcome.is_ok();
            (request.id, outcome, stop)
        }
    };
    let reply: Value = jsonrpc::response(id, outcome);
    (200, reply.to_string(), stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_rfc_7617() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }
}
