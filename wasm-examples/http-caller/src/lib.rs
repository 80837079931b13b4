//! http-caller: a service that calls another service over outgoing HTTP
//! (`wasi:http/outgoing-handler`), the way one microservice calls another.
//!
//! Every request is answered with `caller got <status>: <upstream body>`,
//! where the upstream is `$UPSTREAM_URL` (e.g. `http://hello:8080/`); a
//! failed call answers 502 with the error.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasip2::io::streams::StreamError;

struct Caller;

impl Guest for Caller {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let url = std::env::var("UPSTREAM_URL").unwrap_or_default();
        match call(&url) {
            Ok((status, body)) => respond(out, 200, &format!("caller got {status}: {body}")),
            Err(e) => respond(out, 502, &format!("calling {url:?} failed: {e}\n")),
        }
    }
}

fn call(url: &str) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("UPSTREAM_URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&Method::Get).map_err(|()| "bad method")?;
    req.set_scheme(Some(&Scheme::Http))
        .map_err(|()| "bad scheme")?;
    req.set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    req.set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let resp = match pending.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        Some(Err(())) | None => return Err("response already taken".to_owned()),
    };
    let status = resp.status();
    let body = resp.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let resp = OutgoingResponse::new(headers);
    let _ = resp.set_status_code(status);
    let Ok(body) = resp.body() else { return };
    ResponseOutparam::set(out, Ok(resp));
    if let Ok(stream) = body.write() {
        for chunk in text.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

wasip2::http::proxy::export!(Caller);
