//! hello-http: a `wasi:http/incoming-handler` service. Skiff serves it on the
//! container's port, one fresh instance per request.
//!
//! - `GET /` answers `$GREETING from $POD_NAME` (Kubernetes downward API; the
//!   pod's hostname when it is not set).
//! - `GET /spin` never answers: it burns CPU until the runtime's per-request
//!   deadline stops it.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if path == "/spin" {
            spin();
        }
        let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".to_owned());
        let pod = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "an unnamed pod".to_owned());
        respond(out, 200, &format!("{greeting} from {pod}\n"));
    }
}

/// Loops forever; `black_box` keeps the optimiser from deleting the loop.
fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let resp = OutgoingResponse::new(headers);
    let _ = resp.set_status_code(status);
    let Ok(body) = resp.body() else { return };
    ResponseOutparam::set(out, Ok(resp));
    if let Ok(stream) = body.write() {
        // blocking_write_and_flush takes at most 4096 bytes per call.
        for chunk in text.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

wasip2::http::proxy::export!(Hello);
