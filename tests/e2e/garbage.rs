//! Bad input never panics the server and always gets a `Status`: a bounded
//! barrage of malformed paths, queries, content types and bodies, each
//! answered with a 4xx Status, after which the server still serves.

use kube::api::{Api, ListParams};
use skiff_tests::Cluster;

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed & 0xff) as u8
        })
        .collect()
}

#[tokio::test]
async fn malformed_requests_get_a_status_and_nothing_panics() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let paths = [
        "/api/v1/namespaces/default/configmaps",
        "/api/v1/namespaces/default/configmaps/x",
        "/apis/apps/v1/namespaces/default/deployments",
        "/apis/apps/v1/namespaces/default/deployments/d/scale",
        "/api/v1/namespaces/default/pods/p/status",
        "/api/v1/namespaces/default/pods/p/binding",
        "/api/v1/namespaces",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "/api/v1/nodes/n/status",
        "/apis/nope/v1/things",
        "/api/v1/namespaces/default/configmaps/x/y/z",
    ];
    let queries = [
        "",
        "?limit=-1",
        "?limit=abc",
        "?continue=garbage",
        "?resourceVersion=abc",
        // (A future resourceVersion is a 504 in Kubernetes, which kube-rs
        // retries; it is covered by the list tests instead.)
        "?resourceVersion=abc&resourceVersionMatch=Exact",
        "?labelSelector=!!!",
        "?labelSelector=a%20in%20(",
        "?fieldSelector=spec.nope=1",
        "?fieldSelector=a%3D%3D%3Db",
        "?watch=true&resourceVersion=-5",
        "?dryRun=Sometimes",
        "?fieldValidation=Loose",
        "?gracePeriodSeconds=x",
        "?propagationPolicy=Sideways",
        "?timeoutSeconds=-1",
    ];
    let types = [
        "application/json",
        "application/yaml",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "application/vnd.kubernetes.protobuf",
        "text/plain",
    ];
    let bodies: Vec<Vec<u8>> = {
        let mut seed = 0x5eed_u64;
        let mut v: Vec<Vec<u8>> = [
            "", "{", "[]", "null", "42", "\"s\"", "{\"metadata\": 7}", "{\"apiVersion\": []}",
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"\"}}",
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"labels\":{\"bad key!\":\"v\"}}}",
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"replicas\":\"x\"}}",
            "[{\"op\":\"move\",\"from\":\"/nope\",\"path\":\"/x\"}]", "a: [b\n  c: {", "k8s\0\u{1}\u{2}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for len in [1, 7, 64, 1000] {
            v.push(noise(&mut seed, len));
        }
        v
    };
    let mut sent = 0;
    for (i, path) in paths.iter().enumerate() {
        for (j, query) in queries.iter().enumerate() {
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                // A bounded sample of the cross product: every path, query
                // and method, with bodies and types rotating through.
                let body = bodies[(i + j) % bodies.len()].clone();
                let ct = types[(i * 3 + j) % types.len()];
                let req = http::Request::builder()
                    .method(method)
                    .uri(format!("{path}{query}"))
                    .header("content-type", ct)
                    .body(body)?;
                sent += 1;
                match client.request_text(req).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) => {
                        assert!(
                            (400..500).contains(&s.code) || s.code == 503,
                            "{method} {path}{query} ({ct}): {} {}",
                            s.code,
                            s.message
                        );
                    }
                    Err(other) => panic!("{method} {path}{query} ({ct}): not a Status: {other:?}"),
                }
            }
        }
    }
    assert_eq!(sent, paths.len() * queries.len() * 5);
    // Still serving, nothing stored from the garbage, no panic logged.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "default");
    let stored = cms.list(&ListParams::default()).await?;
    assert!(
        stored
            .items
            .iter()
            .all(|c| c.metadata.name.as_deref() != Some("a"))
    );
    assert!(
        !c.log().contains("panicked"),
        "server log has a panic:\n{}",
        c.log()
    );
    Ok(())
}
