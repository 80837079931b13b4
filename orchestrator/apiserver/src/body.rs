//! Request bodies: size limit, content type, JSON or YAML, object shape.

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

/// Parses a JSON or YAML document into a value.
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
        let e = parse(
            "application/vnd.kubernetes.protobuf",
            &Bytes::from_static(b"x"),
        )
        .unwrap_err();
        assert_eq!(e.code(), 415);
        let y = parse("application/yaml", &Bytes::from_static(b"a: 1\nb: [x]\n")).expect("yaml");
        assert_eq!(y["b"][0], "x");
        assert_eq!(parse("", &Bytes::new()).unwrap_err().code(), 400);
    }
}
