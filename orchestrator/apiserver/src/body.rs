//! Request bodies: size limit, content type, JSON, YAML or Kubernetes
//! protobuf, object shape.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use skiff_api::status::ApiError;

/// The patch formats Kubernetes accepts, by content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// The media type of the request, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The patch type named by the content type, or 415.
pub fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    match content_type(headers).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Parses a JSON, YAML or Kubernetes protobuf document into a value.
///
/// Protobuf (what typed Go clients send since client-go 1.31) becomes the
/// JSON the same client would have sent; see [`skiff_api::protobuf`].
pub fn parse(ct: &str, body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match ct {
        ""
        | "application/json"
        | "*/*"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "error decoding from json: couldn't get version/kind; json parse error: {e}"
            ))
        }),
        "application/yaml" | "application/apply-patch+yaml" => serde_norway::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}"))),
        skiff_api::protobuf::MEDIA_TYPE => skiff_api::protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding from protobuf: {e}"))),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Decodes a body that must be one object (create, update, apply).
pub fn object(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let v = parse(&content_type(headers), body)?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let e = parse("application/json", &Bytes::from_static(b"{nope")).unwrap_err();
        assert_eq!(e.code(), 400);
        let e = parse("application/cbor", &Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(e.code(), 415);
        let y = parse("application/yaml", &Bytes::from_static(b"a: 1\nb: [x]\n")).expect("yaml");
        assert_eq!(y["b"][0], "x");
        assert_eq!(parse("", &Bytes::new()).unwrap_err().code(), 400);
    }

    /// What `kubectl create namespace x` (1.32) sends.
    const NAMESPACE_PB: &[u8] = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x19\x0a\x11\x0a\x01x\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";

    #[test]
    fn protobuf_bodies_become_json_objects() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
        );
        let v = object(&headers, &Bytes::from_static(NAMESPACE_PB)).expect("decodes");
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "x"}, "spec": {}, "status": {}
            })
        );
    }

    #[test]
    fn malformed_protobuf_is_a_bad_request() {
        let ct = "application/vnd.kubernetes.protobuf";
        for body in [&b"x"[..], b"k8s\0\x0a\xff", &NAMESPACE_PB[..20]] {
            let e = parse(ct, &Bytes::copy_from_slice(body)).unwrap_err();
            assert_eq!(e.code(), 400, "{body:?}");
        }
        let e = parse(
            ct,
            &Bytes::from_static(b"k8s\0\x0a\x0a\x0a\x02v1\x12\x04Nope"),
        )
        .unwrap_err();
        assert_eq!(e.code(), 400);
    }
}
