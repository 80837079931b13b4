//! Who may call the node's API: the bearer token is checked by creating a
//! TokenReview at the API server (the kubelet's webhook authentication),
//! and the user must be in `system:masters` or be the API server itself.
//! Answers are kept for a short while so a burst of requests costs one
//! review.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use super::{Body, Node, status};

/// The API server's identity towards nodes.
pub const APISERVER_USER: &str = "system:kube-apiserver";

/// How long a review's answer is reused.
const TTL: Duration = Duration::from_secs(60);
/// Most answers kept; past it the cache is emptied (a flood of bad tokens
/// must not grow memory).
const MAX_ENTRIES: usize = 1024;

/// A review's answer: allowed, or the refusal.
type Verdict = Result<(), String>;

/// Recent review answers: token → (verdict, when).
#[derive(Default)]
pub struct Cache(Mutex<HashMap<String, (Verdict, Instant)>>);

impl Cache {
    fn get(&self, token: &str) -> Option<Verdict> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(r, _)| r.clone())
    }

    fn put(&self, token: &str, r: Verdict) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(token.to_owned(), (r, Instant::now()));
    }
}

/// Whether a reviewed user may use the node's API; the refusal otherwise.
pub fn allowed(review: &Value) -> Result<(), String> {
    let st = &review["status"];
    if st["authenticated"] != true {
        return Err("Unauthorized".into());
    }
    let name = st["user"]["username"].as_str().unwrap_or("");
    let masters = st["user"]["groups"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g == "system:masters"));
    if masters || name == APISERVER_USER {
        Ok(())
    } else {
        Err(format!(
            "Forbidden (user={name}, verb=get, resource=nodes, subresource=proxy)"
        ))
    }
}

/// Checks the request's bearer token; the error answer otherwise.
pub async fn check(node: &Node, headers: &HeaderMap) -> Result<(), Response<Body>> {
    let unauthorized = || status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    let verdict = match node.reviews.get(token) {
        Some(v) => v,
        None => {
            let v = review(&node.client, token).await.map_err(|e| {
                tracing::warn!(error = %e, "TokenReview failed");
                status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "could not verify the token with the API server",
                )
            })?;
            let v = allowed(&v);
            node.reviews.put(token, v.clone());
            v
        }
    };
    verdict.map_err(|m| {
        if m == "Unauthorized" {
            unauthorized()
        } else {
            status(StatusCode::FORBIDDEN, "Forbidden", &m)
        }
    })
}

async fn review(client: &kube::Client, token: &str) -> Result<Value, kube::Error> {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    });
    let req = http::Request::post("/apis/authentication.k8s.io/v1/tokenreviews")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .map_err(kube::Error::HttpError)?;
    client.request::<Value>(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_masters_and_the_apiserver_pass() {
        let r = |name: &str, groups: &[&str], ok: bool| json!({"status": {"authenticated": ok, "user": {"username": name, "groups": groups}}});
        assert!(allowed(&r("admin", &["system:masters"], true)).is_ok());
        assert!(allowed(&r(APISERVER_USER, &[], true)).is_ok());
        assert!(allowed(&r("bob", &["dev"], true)).is_err_and(|m| m.starts_with("Forbidden")));
        assert_eq!(
            allowed(&r("admin", &["system:masters"], false)),
            Err("Unauthorized".into())
        );
        let c = Cache::default();
        c.put("t", Ok(()));
        assert_eq!(c.get("t"), Some(Ok(())));
        assert_eq!(c.get("u"), None);
    }
}
