//! Image garbage collection, as the kubelet's image manager does it: when
//! the filesystem holding the node's data directory is fuller than the high
//! threshold (`imageGCHighThresholdPercent`, 85), images that no container
//! uses are removed, least recently used first, until usage is back under
//! the low threshold (`imageGCLowThresholdPercent`, 80). An image seen for
//! less than `imageMinimumGCAge` (2 min) is left alone, so one pulled for a
//! pod about to start is not taken away from it. When not enough can be
//! freed, the Node gets a `FreeDiskSpaceFailed` Warning event.
//!
//! Which images to remove is [`select`], pure and unit-tested; [`run`] is
//! the loop that feeds it from the runtimes' image services, their
//! container lists and `statvfs`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_client::events::{Recorder, Type};
use skiff_runtime::{ContainerFilter, ImageSpec, ImageStatus, Runtime};

/// How often images are detected and disk usage is checked. The kubelet
/// detects every 30 s (its GC runs every 5 min; a `statvfs` is cheap
/// enough to check at every detection).
pub const PERIOD: Duration = Duration::from_secs(30);

/// The kubelet's image GC settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageGcPolicy {
    /// Disk usage (percent) at or above which images are collected.
    pub high_threshold_percent: u8,
    /// Disk usage (percent) collection brings the disk back under.
    pub low_threshold_percent: u8,
    /// Youngest an unused image may be (since first seen) to be removed.
    pub min_age: Duration,
}

impl Default for ImageGcPolicy {
    fn default() -> Self {
        ImageGcPolicy {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
            min_age: Duration::from_secs(120),
        }
    }
}

impl ImageGcPolicy {
    /// Whether the thresholds make sense (the kubelet refuses the same):
    /// both at most 100, low not above high. A high threshold of 100
    /// turns collection off.
    pub fn validate(&self) -> Result<(), String> {
        if self.high_threshold_percent > 100 || self.low_threshold_percent > 100 {
            return Err("image GC thresholds are percentages: 0 to 100".to_owned());
        }
        if self.low_threshold_percent > self.high_threshold_percent {
            return Err(format!(
                "image GC low threshold ({}) is above the high threshold ({})",
                self.low_threshold_percent, self.high_threshold_percent
            ));
        }
        Ok(())
    }

    /// Bytes to free on a disk, as the kubelet computes them: nothing below
    /// the high threshold, else enough to reach the low one.
    pub fn bytes_to_free(&self, disk: DiskUsage) -> u64 {
        if disk.capacity == 0 || self.high_threshold_percent >= 100 {
            return 0;
        }
        let available = disk.available.min(disk.capacity);
        let used_percent = 100 - u128::from(available) * 100 / u128::from(disk.capacity);
        if used_percent < u128::from(self.high_threshold_percent) {
            return 0;
        }
        let target_available =
            u128::from(disk.capacity) * u128::from(100 - self.low_threshold_percent.min(100)) / 100;
        u64::try_from(target_available.saturating_sub(u128::from(available))).unwrap_or(u64::MAX)
    }
}

/// Size and free space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Total size.
    pub capacity: u64,
    /// Available to unprivileged users (what `df` shows as available).
    pub available: u64,
}

impl DiskUsage {
    /// The filesystem holding `path`.
    pub fn of(path: &std::path::Path) -> Option<DiskUsage> {
        let s = nix::sys::statvfs::statvfs(path).ok()?;
        let frag = s.fragment_size();
        Some(DiskUsage {
            capacity: s.blocks().saturating_mul(frag),
            available: s.blocks_available().saturating_mul(frag),
        })
    }
}

/// What the collector knows of one image of one runtime (the kubelet's
/// `imageRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The runtime handler holding it.
    pub handler: String,
    /// The image id.
    pub id: String,
    /// Its references.
    pub repo_tags: Vec<String>,
    /// Bytes it takes.
    pub size: u64,
    /// When this agent first saw it.
    pub first_detected: Instant,
    /// When a container last used it; `None`: not since this agent started.
    pub last_used: Option<Instant>,
}

/// The images the collector tracks, by `(handler, id)`.
#[derive(Debug, Default)]
pub struct Tracker {
    images: HashMap<(String, String), Tracked>,
}

impl Tracker {
    /// Records what one runtime holds now: new images are first detected
    /// `now`, images in use are used `now`, images gone are forgotten.
    pub fn observe(
        &mut self,
        handler: &str,
        images: &[ImageStatus],
        in_use: &HashSet<String>,
        now: Instant,
    ) {
        let present: HashSet<&str> = images.iter().map(|i| i.id.as_str()).collect();
        self.images
            .retain(|(h, id), _| h != handler || present.contains(id.as_str()));
        for img in images {
            let t = self
                .images
                .entry((handler.to_owned(), img.id.clone()))
                .or_insert_with(|| Tracked {
                    handler: handler.to_owned(),
                    id: img.id.clone(),
                    repo_tags: Vec::new(),
                    size: 0,
                    first_detected: now,
                    last_used: None,
                });
            t.repo_tags.clone_from(&img.repo_tags);
            t.size = img.size;
            if is_used(img, in_use) {
                t.last_used = Some(now);
            }
        }
    }

    /// Every tracked image.
    pub fn images(&self) -> impl Iterator<Item = &Tracked> {
        self.images.values()
    }
}

/// Whether a container refers to the image, by id or by one of its
/// references (`in_use` holds both forms of every container's image).
fn is_used(img: &ImageStatus, in_use: &HashSet<String>) -> bool {
    in_use.contains(&img.id) || img.repo_tags.iter().any(|t| in_use.contains(t))
}

/// Images chosen for removal.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection<'a> {
    /// The images, in removal order.
    pub images: Vec<&'a Tracked>,
    /// Bytes they free.
    pub bytes: u64,
}

/// Which images to remove to free `to_free` bytes: those not in use now
/// (`in_use` keys are `(handler, id)`), first seen at least `min_age` ago,
/// least recently used first (never used before first detected ones), as
/// few as free enough. Fewer bytes than asked means not enough could be.
pub fn select<'a>(
    images: impl IntoIterator<Item = &'a Tracked>,
    in_use: &HashSet<(String, String)>,
    now: Instant,
    min_age: Duration,
    to_free: u64,
) -> Selection<'a> {
    let mut eligible: Vec<&Tracked> = images
        .into_iter()
        .filter(|t| !in_use.contains(&(t.handler.clone(), t.id.clone())))
        .filter(|t| now.saturating_duration_since(t.first_detected) >= min_age)
        .collect();
    eligible.sort_by(|a, b| {
        (a.last_used, a.first_detected, &a.id).cmp(&(b.last_used, b.first_detected, &b.id))
    });
    let mut out = Selection {
        images: Vec::new(),
        bytes: 0,
    };
    for t in eligible {
        if out.bytes >= to_free {
            break;
        }
        out.bytes = out.bytes.saturating_add(t.size);
        out.images.push(t);
    }
    out
}

/// What the collector needs from the agent.
pub struct Collector {
    /// The runtimes whose images are collected.
    pub runtimes: Vec<Arc<dyn Runtime>>,
    /// The node's data directory: its filesystem is the one watched.
    pub data_dir: PathBuf,
    /// Thresholds and minimum age.
    pub policy: ImageGcPolicy,
    /// This node's name, for its events.
    pub node_name: String,
    /// Posts events as `kubelet` on this node.
    pub events: Recorder,
}

/// Detects images and collects them when the disk is too full, every
/// [`PERIOD`], forever.
pub async fn run(c: Collector) {
    let mut tracker = Tracker::default();
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(message) = once(&c, &mut tracker).await {
            tracing::warn!(%message, "image garbage collection failed");
            let node = Node {
                metadata: ObjectMeta {
                    name: Some(c.node_name.clone()),
                    // The kubelet's node reference carries the name as uid.
                    uid: Some(c.node_name.clone()),
                    ..ObjectMeta::default()
                },
                ..Node::default()
            };
            c.events
                .record(&node, None, Type::Warning, "FreeDiskSpaceFailed", &message)
                .await;
        }
    }
}

/// One detection and, if the disk is too full, one collection.
async fn once(c: &Collector, tracker: &mut Tracker) -> Result<(), String> {
    let now = Instant::now();
    let mut in_use = HashSet::new();
    let mut all_answered = true;
    for rt in &c.runtimes {
        let handler = rt.handler().to_owned();
        let (Ok(images), Ok(containers)) = (
            rt.images().list_images().await,
            rt.list_containers(&ContainerFilter::default()).await,
        ) else {
            all_answered = false;
            continue;
        };
        let used: HashSet<String> = containers
            .iter()
            .flat_map(|s| [s.image_ref.clone(), s.image.image.clone()])
            .collect();
        tracker.observe(&handler, &images, &used, now);
        for img in images.iter().filter(|i| is_used(i, &used)) {
            in_use.insert((handler.clone(), img.id.clone()));
        }
    }
    // Without every runtime's containers, what is in use is not known:
    // collect nothing this round rather than an image a pod runs from.
    let Some(disk) = DiskUsage::of(&c.data_dir).filter(|_| all_answered) else {
        return Ok(());
    };
    let to_free = c.policy.bytes_to_free(disk);
    if to_free == 0 {
        return Ok(());
    }
    let chosen = select(tracker.images(), &in_use, now, c.policy.min_age, to_free);
    let mut freed = 0u64;
    let mut removed = Vec::new();
    for t in &chosen.images {
        let Some(rt) = c.runtimes.iter().find(|r| r.handler() == t.handler) else {
            continue;
        };
        let mut ok = true;
        for r in &t.repo_tags {
            if let Err(e) = rt.images().remove_image(&ImageSpec::new(r.clone())).await {
                tracing::warn!(image = %r, error = %e, "image garbage collection: removal failed");
                ok = false;
            }
        }
        if ok {
            tracing::info!(image = %t.id, handler = %t.handler, size = t.size, "image garbage collected");
            freed = freed.saturating_add(t.size);
            removed.push((t.handler.clone(), t.id.clone()));
        }
    }
    for key in removed {
        tracker.images.remove(&key);
    }
    if freed < to_free {
        return Err(format!(
            "Failed to garbage collect required amount of images. Attempted to free {to_free} bytes, but only found {freed} bytes eligible to free."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, tags: &[&str], size: u64) -> ImageStatus {
        ImageStatus {
            id: id.to_owned(),
            repo_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            repo_digests: Vec::new(),
            size,
        }
    }

    #[test]
    fn thresholds_give_the_bytes_to_free() {
        let p = ImageGcPolicy::default();
        let disk = |available| DiskUsage {
            capacity: 1000,
            available,
        };
        // 84 % used: under the high threshold.
        assert_eq!(p.bytes_to_free(disk(160)), 0);
        // 85 % used: back to 80 %, i.e. 200 available.
        assert_eq!(p.bytes_to_free(disk(150)), 50);
        assert_eq!(p.bytes_to_free(disk(0)), 200);
        let off = ImageGcPolicy {
            high_threshold_percent: 100,
            ..p
        };
        assert_eq!(off.bytes_to_free(disk(0)), 0);
        assert!(
            ImageGcPolicy {
                low_threshold_percent: 90,
                ..p
            }
            .validate()
            .is_err()
        );
        assert!(p.validate().is_ok());
    }

    #[test]
    fn unused_old_images_go_least_recently_used_first() {
        let t0 = Instant::now();
        let min_age = Duration::from_secs(120);
        let mut tracker = Tracker::default();
        let all = [
            image("sha256:a", &["r/a:1"], 100),
            image("sha256:b", &["r/b:1"], 200),
            image("sha256:c", &["r/c:1"], 300),
        ];
        // a and b used at first, c never.
        let used: HashSet<String> = ["sha256:a".to_owned(), "r/b:1".to_owned()].into();
        tracker.observe("runc", &all, &used, t0);
        // Later only a is in use; b was last used at t0.
        let t1 = t0 + Duration::from_secs(60);
        tracker.observe("runc", &all, &["sha256:a".to_owned()].into(), t1);
        // A young image: first seen just now.
        let t2 = t0 + Duration::from_secs(180);
        let mut now_all = all.to_vec();
        now_all.push(image("sha256:d", &["r/d:1"], 400));
        tracker.observe("runc", &now_all, &["sha256:a".to_owned()].into(), t2);
        let in_use: HashSet<(String, String)> = [("runc".to_owned(), "sha256:a".to_owned())].into();

        let ids = |s: &Selection| s.images.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        // Never-used c goes before b; a is in use, d too young.
        let s = select(tracker.images(), &in_use, t2, min_age, 250);
        assert_eq!(ids(&s), ["sha256:c"]);
        assert_eq!(s.bytes, 300);
        let s = select(tracker.images(), &in_use, t2, min_age, 10_000);
        assert_eq!(ids(&s), ["sha256:c", "sha256:b"]);
        assert_eq!(s.bytes, 500, "short of the 10000 asked: an event is due");
        assert!(
            select(tracker.images(), &in_use, t2, min_age, 0)
                .images
                .is_empty()
        );

        // An image removed from the runtime is forgotten.
        tracker.observe("runc", &all[..1], &HashSet::new(), t2);
        assert_eq!(tracker.images().count(), 1);
    }

    #[test]
    fn runtimes_are_tracked_apart() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        tracker.observe(
            "runc",
            &[image("sha256:a", &["r/a:1"], 1)],
            &HashSet::new(),
            t0,
        );
        tracker.observe(
            "wasmtime",
            &[image("sha256:a", &["r/w:1"], 2)],
            &HashSet::new(),
            t0,
        );
        tracker.observe("runc", &[], &HashSet::new(), t0);
        let left: Vec<_> = tracker.images().map(|t| t.handler.as_str()).collect();
        assert_eq!(left, ["wasmtime"]);
    }
}
