//! Image pulls, one at a time per image: pods that start together and name
//! the same image (a Deployment's replicas) wait for the pull already under
//! way and share its result instead of each fetching and unpacking the
//! image into the store at once. The kubelet serializes pulls by default
//! (`serializeImagePulls`); this does so per image, so different images
//! still pull side by side.
//!
//! A waiter takes the result of a pull that finished after it asked, made
//! with the same credentials; a failed pull is not shared (the next waiter
//! tries itself), so one transient failure does not put every pod of the
//! batch into back-off.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use skiff_runtime::{ImageSpec, ImageStatus, RegistryAuth, Result, Runtime};

/// The node's pulls in flight and their last results, by runtime handler
/// and image reference.
#[derive(Default)]
pub struct Pulls {
    images: Mutex<HashMap<(String, String), Arc<Image>>>,
}

/// One image's pull lock, holding the last successful pull.
#[derive(Default)]
struct Image {
    last: tokio::sync::Mutex<Option<Pulled>>,
}

struct Pulled {
    auth: RegistryAuth,
    finished: Instant,
    status: ImageStatus,
}

impl Pulls {
    /// Pulls `spec` into `runtime`'s store with `auth`, or waits for the
    /// same pull under way and returns its result.
    pub async fn pull(
        &self,
        runtime: &dyn Runtime,
        spec: &ImageSpec,
        auth: &RegistryAuth,
    ) -> Result<ImageStatus> {
        self.single_flight(runtime.handler(), &spec.image, auth, || {
            runtime.images().pull_image(spec, auth)
        })
        .await
    }

    /// Runs `pull` unless a pull of the same handler, image and
    /// credentials finished successfully while this one waited its turn.
    pub async fn single_flight<F, Fut>(
        &self,
        handler: &str,
        image: &str,
        auth: &RegistryAuth,
        pull: F,
    ) -> Result<ImageStatus>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ImageStatus>>,
    {
        let asked = Instant::now();
        let key = (handler.to_owned(), image.to_owned());
        let entry = {
            let mut images = self.images.lock().unwrap_or_else(|p| p.into_inner());
            images.entry(key.clone()).or_default().clone()
        };
        let result = {
            let mut last = entry.last.lock().await;
            match last.as_ref() {
                Some(p) if p.finished >= asked && p.auth == *auth => Ok(p.status.clone()),
                _ => {
                    let result = pull().await;
                    if let Ok(status) = &result {
                        *last = Some(Pulled {
                            auth: auth.clone(),
                            finished: Instant::now(),
                            status: status.clone(),
                        });
                    }
                    result
                }
            }
        };
        // The last one out forgets the image: nobody waits for it any more.
        let mut images = self.images.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&entry) == 2 {
            images.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn status(id: &str) -> ImageStatus {
        ImageStatus {
            id: id.to_owned(),
            repo_tags: vec!["r/busybox:1".to_owned()],
            repo_digests: Vec::new(),
            size: 1,
        }
    }

    /// Ten pods starting at once with one image: one pull, ten results.
    #[tokio::test]
    async fn concurrent_pulls_of_one_image_share_one_pull() {
        let pulls = Pulls::default();
        let count = AtomicUsize::new(0);
        let pull = || async {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(status("sha256:a"))
        };
        let results =
            futures::future::join_all((0..10).map(|_| {
                pulls.single_flight("runc", "r/busybox:1", &RegistryAuth::Anonymous, pull)
            }))
            .await;
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().is_ok_and(|s| s.id == "sha256:a"))
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // Nothing in flight: a later pull (policy Always) pulls again.
        pulls
            .single_flight("runc", "r/busybox:1", &RegistryAuth::Anonymous, pull)
            .await
            .expect("pulled");
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert!(pulls.images.lock().expect("lock").is_empty());
    }

    /// A failed pull is not handed to the others: each tries itself.
    #[tokio::test]
    async fn failures_are_not_shared() {
        let pulls = Pulls::default();
        let count = AtomicUsize::new(0);
        let pull = || async {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            if n == 0 {
                Err(skiff_runtime::RuntimeError::Internal {
                    message: "registry hiccup".into(),
                })
            } else {
                Ok(status("sha256:b"))
            }
        };
        let results = futures::future::join_all(
            (0..3).map(|_| pulls.single_flight("runc", "r/x:1", &RegistryAuth::Anonymous, pull)),
        )
        .await;
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
        // The second pull succeeded and the third waited for it.
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    /// Different credentials never share a result.
    #[tokio::test]
    async fn other_credentials_pull_themselves() {
        let pulls = Pulls::default();
        let count = AtomicUsize::new(0);
        let pull = || async {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(status("sha256:c"))
        };
        let basic = RegistryAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let (a, b) = tokio::join!(
            pulls.single_flight("runc", "r/y:1", &RegistryAuth::Anonymous, pull),
            pulls.single_flight("runc", "r/y:1", &basic, pull),
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}
