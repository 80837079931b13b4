//! `POST /apis/authentication.k8s.io/v1/tokenreviews`: tells a caller (a
//! node agent verifying who calls its API) whom a bearer token belongs to,
//! from the same token table that authenticates requests here.

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use skiff_api::status::ApiError;

use super::json_response;
use crate::auth::{Authenticator, User};

/// Answers a TokenReview; the caller must be authenticated (anonymous
/// requests are refused, as token reviews reveal identities).
pub fn create(auth: &Authenticator, caller: &User, body: &Bytes) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::CREATED,
        &review(auth, caller, body)?,
    ))
}

/// The answered TokenReview.
pub fn review(auth: &Authenticator, caller: &User, body: &Bytes) -> Result<Value, ApiError> {
    if caller.groups.iter().any(|g| g == "system:unauthenticated") {
        return Err(ApiError::new(
            skiff_api::status::Reason::Forbidden,
            "tokenreviews.authentication.k8s.io is forbidden: User \"system:anonymous\" cannot create resource \"tokenreviews\"",
        ));
    }
    let review: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("decoding TokenReview: {e}")))?;
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut headers = HeaderMap::new();
    let user = HeaderValue::from_str(&format!("Bearer {token}"))
        .ok()
        .and_then(|v| {
            headers.insert(http::header::AUTHORIZATION, v);
            auth.authenticate(&headers)
        });
    let status = match user {
        Some(u) => {
            let mut groups = u.groups.clone();
            groups.push("system:authenticated".into());
            json!({"authenticated": true, "user": {"username": u.name, "uid": u.uid, "groups": groups}})
        }
        None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
    };
    let audiences = review.pointer("/spec/audiences").cloned();
    let mut out = json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"token": token},
        "status": status,
    });
    if let Some(a) = audiences {
        out["spec"]["audiences"] = a.clone();
        out["status"]["audiences"] = a;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> User {
        User {
            name: name.into(),
            uid: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    #[test]
    fn reviews_known_and_unknown_tokens() {
        let mut a = Authenticator::default();
        a.add("good", user("admin", &["system:masters"]));
        let body = |t: &str| Bytes::from(json!({"spec": {"token": t}}).to_string());
        let caller = user("system:node:n", &["system:nodes"]);
        let ok = review(&a, &caller, &body("good")).unwrap_or_default();
        assert_eq!(ok["status"]["authenticated"], true);
        assert_eq!(ok["status"]["user"]["username"], "admin");
        assert_eq!(
            ok["status"]["user"]["groups"],
            json!(["system:masters", "system:authenticated"])
        );
        for t in ["wrong", "bad\nheader", ""] {
            let no = review(&a, &caller, &body(t)).unwrap_or_default();
            assert_eq!(no["status"]["authenticated"], false, "{t:?}");
        }
        let anonymous = user("system:anonymous", &["system:unauthenticated"]);
        assert!(review(&a, &anonymous, &body("good")).is_err());
        assert!(review(&a, &caller, &Bytes::from_static(b"{")).is_err());
    }
}
