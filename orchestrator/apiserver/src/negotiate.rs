//! What representation the client asked for in `Accept`: the object itself,
//! a `meta.k8s.io/v1` Table (kubectl get), or PartialObjectMetadata (the
//! garbage collector and metadata-only watches).

use http::HeaderMap;
use skiff_api::status::{ApiError, Reason};

/// The representation of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The object (or list) as stored.
    Object,
    /// A Table.
    Table,
    /// PartialObjectMetadata(List).
    Metadata,
}

/// Chooses the first representation of `Accept` the server can produce.
pub fn shape(headers: &HeaderMap) -> Result<Shape, ApiError> {
    let Some(accept) = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Shape::Object);
    };
    for part in accept.split(',') {
        let mut fields = part.split(';').map(str::trim);
        let media = fields.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(&str, &str)> = fields.filter_map(|p| p.split_once('=')).collect();
        let get = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        if !matches!(
            media.as_str(),
            "application/json" | "application/*" | "*/*" | "application/yaml"
        ) {
            continue;
        }
        match (get("as"), get("g")) {
            (None, _) => return Ok(Shape::Object),
            (Some("Table"), Some("meta.k8s.io")) => return Ok(Shape::Table),
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Ok(Shape::Metadata);
            }
            _ => continue,
        }
    }
    Err(ApiError::new(
        Reason::NotAcceptable,
        format!(
            "only the following media types are accepted: application/json, application/yaml (got {accept:?})"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: &'static str) -> Result<Shape, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, http::HeaderValue::from_static(accept));
        shape(&h)
    }

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(with(kubectl).ok(), Some(Shape::Table));
        assert_eq!(with("application/json").ok(), Some(Shape::Object));
        assert_eq!(
            with("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").ok(),
            Some(Shape::Metadata)
        );
        assert_eq!(
            with("application/vnd.kubernetes.protobuf,application/json").ok(),
            Some(Shape::Object)
        );
        assert_eq!(
            with("application/vnd.kubernetes.protobuf")
                .unwrap_err()
                .code(),
            406
        );
    }
}
