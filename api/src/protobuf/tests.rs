//! Real bodies captured from kubectl (testdata/, see its README), the
//! special JSON forms on hand-built messages, and malformed input.

use serde_json::{Value, json};

use super::*;

/// (fixture, group, version, kind).
const FIXTURES: &[(&str, &str, &str, &str)] = &[
    ("namespace", "", "v1", "Namespace"),
    ("configmap", "", "v1", "ConfigMap"),
    ("secret-generic", "", "v1", "Secret"),
    ("secret-docker-registry", "", "v1", "Secret"),
    ("serviceaccount", "", "v1", "ServiceAccount"),
    ("service", "", "v1", "Service"),
    ("resourcequota", "", "v1", "ResourceQuota"),
    ("deployment", "apps", "v1", "Deployment"),
    ("job-from-cronjob", "batch", "v1", "Job"),
    ("cronjob", "batch", "v1", "CronJob"),
    ("poddisruptionbudget", "policy", "v1", "PodDisruptionBudget"),
    ("role", "rbac.authorization.k8s.io", "v1", "Role"),
    (
        "rolebinding",
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
    ),
    ("ingress", "networking.k8s.io", "v1", "Ingress"),
];

fn fixture(name: &str) -> (Vec<u8>, Value) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/protobuf/testdata/");
    let bin = std::fs::read(format!("{dir}{name}.bin")).expect("fixture .bin");
    let json = std::fs::read(format!("{dir}{name}.json")).expect("fixture .json");
    (bin, serde_json::from_slice(&json).expect("fixture JSON"))
}

// ---- a tiny encoder for hand-built messages ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn ld(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3 | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A varint field.
fn vi(tag: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3, &mut out);
    varint(v, &mut out);
    out
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = cat(&[ld(1, api_version.as_bytes()), ld(2, kind.as_bytes())]);
    let mut out = MAGIC.to_vec();
    out.extend(cat(&[
        ld(1, &type_meta),
        ld(2, raw),
        ld(3, b""),
        ld(4, b""),
    ]));
    out
}

fn meta(name: &str) -> Vec<u8> {
    ld(1, &ld(1, name.as_bytes()))
}

// ---- captured bodies ----

#[test]
fn captured_kubectl_bodies_decode_to_kubectls_json() {
    for (name, ..) in FIXTURES {
        let (bin, expected) = fixture(name);
        let got = decode(&bin).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "{name}:\n{got:#}");
    }
}

#[test]
fn captured_bodies_are_fixed_points_of_the_typed_round_trip() {
    for (name, group, version, kind) in FIXTURES {
        let (bin, _) = fixture(name);
        let got = decode(&bin).expect("decodes");
        let typed = crate::typed::round_trip(group, version, kind, &got)
            .expect("built-in")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(typed, got, "{name}");
    }
}

#[test]
fn bytes_are_base64_and_strings_stay_strings() {
    let (bin, _) = fixture("configmap");
    let cm = decode(&bin).expect("configmap");
    assert_eq!(cm["data"], json!({"a": "b", "empty": ""}));
    assert_eq!(cm["binaryData"]["bin"], "AAEC//4gYmluYXJ5");
    let (bin, _) = fixture("secret-generic");
    let secret = decode(&bin).expect("secret");
    assert_eq!(secret["data"]["user"], "YWRtaW4=");
    assert!(
        secret.get("type").is_none(),
        "empty optional strings are omitted"
    );
}

#[test]
fn the_rich_pod_template_keeps_pointers_and_special_types() {
    let (bin, _) = fixture("job-from-cronjob");
    let job = decode(&bin).expect("job");
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 0, "a pointer's zero is kept");
    assert_eq!(spec["suspend"], false);
    assert_eq!(
        spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"],
        json!([1, 2, 42])
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(
        spec["template"]["metadata"]["creationTimestamp"],
        "2024-05-01T10:20:30Z"
    );
    assert_eq!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["terminationGracePeriodSeconds"], 0);
    let c = &pod["containers"][0];
    assert!(
        c.get("stdin").is_none() && c.get("tty").is_none(),
        "plain Go bools are omitted"
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], 8080);
    assert_eq!(c["resources"]["requests"]["ephemeral-storage"], "1Gi");
    assert_eq!(c["env"][1], json!({"name": "E"}));
    assert_eq!(
        c["env"][2]["valueFrom"]["secretKeyRef"]["name"], "sec",
        "inline struct"
    );
    assert_eq!(
        pod["volumes"][1]["emptyDir"]["sizeLimit"], "64Mi",
        "inline VolumeSource"
    );
    assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
    let (bin, _) = fixture("service");
    let svc = decode(&bin).expect("service");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][1]["targetPort"], "https");
    let (bin, _) = fixture("poddisruptionbudget");
    assert_eq!(decode(&bin).expect("pdb")["spec"]["minAvailable"], "50%");
}

// ---- special types on hand-built messages ----

#[test]
fn time_drops_nanoseconds_and_micro_time_keeps_microseconds() {
    let time = cat(&[vi(1, 1_714_558_830), vi(2, 123_456_789)]);
    let lease_spec = cat(&[ld(3, &time), ld(4, &time), ld(1, b"me")]);
    let body = envelope(
        "coordination.k8s.io/v1",
        "Lease",
        &cat(&[meta("l"), ld(2, &lease_spec)]),
    );
    let lease = decode(&body).expect("lease");
    assert_eq!(lease["spec"]["acquireTime"], "2024-05-01T10:20:30.123456Z");
    let managed = cat(&[
        ld(1, b"kubectl"),
        ld(4, &time),
        ld(7, &ld(1, br#"{"f:data":{}}"#)),
    ]);
    let md = cat(&[ld(1, b"c"), ld(8, &time), ld(9, b""), ld(17, &managed)]);
    let cm = decode(&envelope("v1", "ConfigMap", &ld(1, &md))).expect("configmap");
    assert_eq!(cm["metadata"]["creationTimestamp"], "2024-05-01T10:20:30Z");
    assert!(
        cm["metadata"].get("deletionTimestamp").is_none(),
        "a zero Time is null"
    );
    assert_eq!(
        cm["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {}})
    );
    assert_eq!(
        cm["metadata"]["managedFields"][0]["time"],
        "2024-05-01T10:20:30Z"
    );
}

#[test]
fn times_outside_go_json_range_are_errors() {
    let md = ld(8, &vi(1, (-62_167_219_201i64) as u64));
    let err = decode(&envelope("v1", "ConfigMap", &ld(1, &md))).unwrap_err();
    assert!(matches!(err, ProtobufError::TimeOutOfRange { .. }), "{err}");
    let epoch = ld(8, &vi(1, 0));
    let cm = decode(&envelope("v1", "ConfigMap", &ld(1, &epoch))).expect("epoch");
    assert_eq!(cm["metadata"]["creationTimestamp"], "1970-01-01T00:00:00Z");
}

#[test]
fn durations_print_like_go() {
    for (nanos, s) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (61_500_000_000, "1m1.5s"),
        (3_723_000_000_000, "1h2m3s"),
        (3_600_000_000_000, "1h0m0s"),
        (-90_000_000_000, "-1m30s"),
    ] {
        assert_eq!(go_duration(nanos), s);
    }
    assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
}

#[test]
fn int_or_string_of_unknown_type_is_an_error() {
    let port = cat(&[vi(3, 80), ld(4, &vi(1, 7))]);
    let body = envelope("v1", "Service", &cat(&[meta("s"), ld(2, &ld(1, &port))]));
    assert!(matches!(
        decode(&body),
        Err(ProtobufError::IntOrStringType(7))
    ));
}

#[test]
fn raw_extensions_embed_json_and_reject_garbage() {
    let body = envelope(
        "apps/v1",
        "ControllerRevision",
        &cat(&[meta("r"), ld(2, &ld(1, br#"{"spec":{"x":1}}"#)), vi(3, 2)]),
    );
    let rev = decode(&body).expect("revision");
    assert_eq!(rev["data"], json!({"spec": {"x": 1}}));
    assert_eq!(rev["revision"], 2);
    let bad = envelope(
        "apps/v1",
        "ControllerRevision",
        &cat(&[meta("r"), ld(2, &ld(1, b"{"))]),
    );
    assert!(matches!(
        decode(&bad),
        Err(ProtobufError::EmbeddedJson { .. })
    ));
    // An embedded protobuf object is decoded too.
    let ns = envelope("v1", "Namespace", &meta("inner"));
    let body = envelope(
        "apps/v1",
        "ControllerRevision",
        &cat(&[meta("r"), ld(2, &ld(1, &ns))]),
    );
    assert_eq!(
        decode(&body).expect("nested")["data"]["metadata"]["name"],
        "inner"
    );
}

#[test]
fn json_schemas_use_their_go_json_forms() {
    let string = ld(5, b"string");
    let props = cat(&[
        ld(5, b"object"),
        ld(29, &cat(&[ld(1, b"name"), ld(2, &string)])),
        // additionalProperties: false, then a schema.
        ld(30, &vi(1, 0)),
        ld(33, &ld(2, &string)),
        // items: a single schema; dependencies: a string list.
        ld(24, &ld(1, &string)),
        ld(
            32,
            &cat(&[ld(1, b"a"), ld(2, &cat(&[ld(2, b"b"), ld(2, b"c")]))]),
        ),
        ld(8, &ld(1, b"{\"k\":[1]}")),
        {
            let mut max = vec![9 << 3 | 1];
            max.extend(2.5f64.to_le_bytes());
            max
        },
        vi(38, 1),
        vi(39, 0),
    ]);
    let version = cat(&[ld(1, b"v1"), vi(2, 1), vi(3, 1), ld(4, &ld(1, &props))]);
    let names = cat(&[ld(1, b"widgets"), ld(4, b"Widget")]);
    let spec = cat(&[
        ld(1, b"example.com"),
        ld(3, &names),
        ld(4, b"Namespaced"),
        ld(7, &version),
    ]);
    let body = envelope(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &cat(&[meta("widgets.example.com"), ld(2, &spec)]),
    );
    let crd = decode(&body).expect("crd");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(
        *schema,
        json!({
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "additionalProperties": false,
            "additionalItems": {"type": "string"},
            "items": {"type": "string"},
            "dependencies": {"a": ["b", "c"]},
            "default": {"k": [1]},
            "maximum": 2.5,
            "x-kubernetes-preserve-unknown-fields": true
        })
    );
    let typed = crate::typed::round_trip(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        &crd,
    )
    .expect("built-in")
    .expect("valid");
    assert_eq!(typed, crd);
}

// ---- presence ----

#[test]
fn pointer_zeros_stay_and_plain_zeros_go() {
    let spec = cat(&[vi(1, 0), vi(5, 0), vi(7, 0), vi(6, 0)]);
    let body = envelope("apps/v1", "Deployment", &cat(&[meta("d"), ld(2, &spec)]));
    let d = decode(&body).expect("deployment");
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 0);
    assert!(d["spec"].get("minReadySeconds").is_none());
    assert!(d["spec"].get("paused").is_none());
    // Required fields absent on the wire get their zero value.
    assert_eq!(d["spec"]["selector"], json!({}));
    assert_eq!(d["spec"]["template"], json!({}));
}

#[test]
fn an_empty_storage_class_name_is_kept() {
    let spec = cat(&[ld(5, b""), ld(6, b"")]);
    let body = envelope(
        "v1",
        "PersistentVolumeClaim",
        &cat(&[meta("p"), ld(2, &spec)]),
    );
    assert_eq!(
        decode(&body).expect("pvc")["spec"],
        json!({"storageClassName": ""})
    );
}

#[test]
fn every_builtin_kind_decodes_from_an_empty_object_to_a_typed_fixed_point() {
    macro_rules! check {
        ($g:literal, $v:literal, $k:literal, $t:ty) => {{
            let api_version = if $g.is_empty() {
                $v.to_owned()
            } else {
                format!("{}/{}", $g, $v)
            };
            let obj = decode(&envelope(&api_version, $k, &meta("x")))
                .unwrap_or_else(|e| panic!("{}: {e}", $k));
            let typed = crate::typed::round_trip($g, $v, $k, &obj)
                .expect("built-in")
                .unwrap_or_else(|e| panic!("{}: {e}", $k));
            assert_eq!(typed, obj, "{}", $k);
        }};
    }
    crate::for_each_builtin_type!(check);
}

// ---- envelope and wire format ----

#[test]
fn delete_options_come_in_any_group_version() {
    let raw = cat(&[vi(1, 0), ld(4, b"Foreground"), ld(5, b"All")]);
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let opts = decode(&envelope(api_version, "DeleteOptions", &raw)).expect("options");
        assert_eq!(
            opts,
            json!({"apiVersion": api_version, "kind": "DeleteOptions",
                   "gracePeriodSeconds": 0, "propagationPolicy": "Foreground", "dryRun": ["All"]})
        );
    }
}

#[test]
fn unknown_fields_are_skipped_and_packed_numbers_read() {
    let mut fixed32 = Vec::new();
    varint(99 << 3 | 5, &mut fixed32);
    fixed32.extend([1, 2, 3, 4]);
    let mut fixed64 = Vec::new();
    varint(98 << 3 | 1, &mut fixed64);
    fixed64.extend([0; 8]);
    let values = cat(&[ld(2, b"In"), ld(3, &[1, 2, 42])]);
    let rule = cat(&[ld(1, b"FailJob"), ld(2, &values), vi(77, 5)]);
    let spec = cat(&[ld(11, &ld(1, &rule)), ld(50, b"future"), fixed32, fixed64]);
    let body = envelope(
        "batch/v1",
        "Job",
        &cat(&[meta("j"), ld(2, &spec), vi(40, 1)]),
    );
    let job = decode(&body).expect("job");
    assert_eq!(
        job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"],
        json!([1, 2, 42])
    );
}

#[test]
fn envelope_errors_are_named() {
    assert!(matches!(
        decode(b"{\"kind\":\"x\"}"),
        Err(ProtobufError::MissingMagic)
    ));
    let err = decode(&envelope("v1", "Widget", b"")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no kind \"Widget\" is registered for version \"v1\" in the protobuf decoder"
    );
    let mut gz = MAGIC.to_vec();
    gz.extend(cat(&[
        ld(1, &cat(&[ld(1, b"v1"), ld(2, b"Namespace")])),
        ld(3, b"gzip"),
    ]));
    assert!(matches!(decode(&gz), Err(ProtobufError::ContentEncoding(e)) if e == "gzip"));
    let wrong = envelope("v1", "Namespace", &vi(1, 3));
    let err = decode(&wrong).unwrap_err();
    assert!(
        err.to_string().contains("api.core.v1.Namespace.metadata"),
        "{err}"
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let mut schema = ld(5, b"object");
    for _ in 0..(MAX_DEPTH + 10) {
        schema = ld(28, &schema); // not: {...}
    }
    let version = cat(&[ld(1, b"v1"), ld(4, &ld(1, &schema))]);
    let spec = cat(&[ld(1, b"g"), ld(7, &version)]);
    let body = envelope(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &cat(&[meta("c"), ld(2, &spec)]),
    );
    assert!(matches!(decode(&body), Err(ProtobufError::TooDeep)));
}

/// A deterministic xorshift generator: the fuzz cases are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_and_mutated_bodies_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    for (name, ..) in FIXTURES {
        let (bin, _) = fixture(name);
        for len in 0..bin.len() {
            let _ = decode(&bin[..len]);
        }
        for _ in 0..300 {
            let mut b = bin.clone();
            for _ in 0..=(rng.next() % 4) {
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
            }
            // Keep the magic most of the time, so the walker is reached.
            if !rng.next().is_multiple_of(8) {
                b[..4].copy_from_slice(MAGIC);
            }
            let _ = decode(&b);
        }
    }
    for _ in 0..2000 {
        let len = (rng.next() % 64) as usize;
        let mut b = MAGIC.to_vec();
        b.extend((0..len).map(|_| rng.next() as u8));
        let _ = decode(&b);
    }
}
