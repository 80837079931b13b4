//! The root CA publisher: every active namespace has the ConfigMap
//! `kube-root-ca.crt` holding the cluster CA as `ca.crt`, kept equal to it,
//! as Kubernetes' root-ca-cert-publisher does — pods mount it (through the
//! projected `kube-api-access` volume) to verify the API server.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;

use crate::everynamespace::{self, Wanted};
use crate::{Ctx, Shutdown};

/// The ConfigMap's name in every namespace.
pub const NAME: &str = "kube-root-ca.crt";
/// The key holding the PEM.
const KEY: &str = "ca.crt";
/// Kubernetes' description of the ConfigMap, word for word.
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Publishes `ca_pem` into every namespace until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, ca_pem: String, shutdown: Shutdown) {
    let data: BTreeMap<String, String> = [(KEY.to_owned(), ca_pem)].into_iter().collect();
    let current = data.clone();
    let wanted = Wanted {
        name: NAME,
        build: Box::new(move || ConfigMap {
            metadata: ObjectMeta {
                annotations: Some(
                    [(
                        "kubernetes.io/description".to_owned(),
                        DESCRIPTION.to_owned(),
                    )]
                    .into_iter()
                    .collect(),
                ),
                ..ObjectMeta::default()
            },
            data: Some(data.clone()),
            ..ConfigMap::default()
        }),
        // The publisher owns the data: an edit is put back.
        is_current: Box::new(move |cm: &ConfigMap| cm.data.as_ref() == Some(&current)),
    };
    everynamespace::run(ctx, wanted, shutdown).await;
}
