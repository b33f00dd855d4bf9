//! `inspect`: one image through every transport, and what it says about ELF files.

use serde_json::Value;

use crate::support::{Registry, archive_ref, inspect_json, oci_ref};

/// The parts of a report that must not depend on the transport.
fn transport_independent(report: &Value) -> (Value, Value, Value, Value) {
    (
        report["config"].clone(),
        report["files"].clone(),
        report["elfs"].clone(),
        report["paths"].clone(),
    )
}

#[test]
fn busybox_is_the_same_image_through_registry_layout_and_archive() {
    let cache = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let pushed = registry.push("busybox", &[]);
    let from_registry = inspect_json(cache.path(), &pushed, true);
    let from_layout = inspect_json(cache.path(), &oci_ref("busybox"), true);
    let from_archive = inspect_json(cache.path(), &archive_ref("busybox"), true);
    assert_eq!(
        transport_independent(&from_registry),
        transport_independent(&from_layout)
    );
    assert_eq!(
        transport_independent(&from_archive),
        transport_independent(&from_layout)
    );
    assert_eq!(
        from_registry["manifest_digest"],
        from_layout["manifest_digest"]
    );

    let config = &from_layout["config"];
    assert_eq!(config["entrypoint"], serde_json::json!(["/bin/busybox"]));
    assert_eq!(config["cmd"], serde_json::json!(["sh"]));
    assert_eq!(config["working_dir"], "/home/user");
    assert_eq!(config["exposed_ports"], serde_json::json!(["8080/tcp"]));
    assert!(
        config["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "GREETING=hello")
    );

    let elfs = from_layout["elfs"].as_array().unwrap();
    let busybox = elfs
        .iter()
        .find(|e| e["path"] == "/bin/busybox")
        .expect("busybox listed");
    assert_eq!(busybox["machine_name"], "x86-64");
    assert_eq!(busybox["class"], 64);
    assert_eq!(busybox["kind"], "executable");
    assert_eq!(busybox["linking"], "static");
    assert_eq!(busybox["interpreter"], Value::Null);
    let paths = from_layout["paths"].as_array().unwrap();
    let sh = paths
        .iter()
        .find(|p| p["path"] == "/bin/sh")
        .expect("/bin/sh listed");
    assert_eq!(sh["type"], "symlink");
}

#[test]
fn a_second_registry_pull_downloads_no_blob() {
    let cache = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let pushed = registry.push("busybox", &["--format", "v2s2"]);
    let first = inspect_json(cache.path(), &pushed, false);
    let blobs = cache.path().join("blobs/sha256");
    let stamp = |p: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = stamp(&blobs);
    assert!(
        before.len() >= 3,
        "manifest, config and layer cached: {before:?}"
    );
    let second = inspect_json(cache.path(), &pushed, false);
    assert_eq!(first, second);
    assert_eq!(before, stamp(&blobs), "no blob was written again");
    // Docker schema 2 media types came through.
    assert!(
        first["layers"][0]["media_type"]
            .as_str()
            .unwrap()
            .contains("docker")
    );
}

#[test]
fn debian_ls_is_dynamic_with_its_loader_and_libraries() {
    let cache = tempfile::tempdir().unwrap();
    let report = inspect_json(cache.path(), &oci_ref("debian"), false);
    let elfs = report["elfs"].as_array().unwrap();
    let ls = elfs
        .iter()
        .find(|e| e["path"] == "/usr/bin/ls")
        .expect("/usr/bin/ls listed");
    assert_eq!(ls["linking"], "dynamic");
    assert_eq!(ls["kind"], "pie-executable");
    assert_eq!(ls["interpreter"], "/lib64/ld-linux-x86-64.so.2");
    let needed: Vec<&str> = ls["needed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(needed.contains(&"libc.so.6"), "{needed:?}");
    assert!(needed.contains(&"libselinux.so.1"), "{needed:?}");
    let libc = elfs
        .iter()
        .find(|e| e["soname"] == "libc.so.6")
        .expect("libc listed");
    assert!(libc["code_bytes"].as_u64().unwrap() > 100_000);
}
