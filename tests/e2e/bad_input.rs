//! Bad input: each case must end with one clear error line naming the image and the problem, exit
//! status 1, no panic, and no output file (nor a temporary one) left behind.

use std::path::Path;

use crate::support::{Entry, LayoutWriter, Registry, gzip_tar, oci_ref, run};

/// Runs `pack IMAGE -o OUT` and checks that it failed cleanly with every word of `expect`.
fn fails_cleanly(image: &str, expect: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("image.vfs");
    let result = run(
        &work.path().join("cache"),
        &["pack", image, "-o", out.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(
        result.status.code(),
        Some(1),
        "{image}: exit status; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{image}: panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{image}: one error line, got: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("oci2wasm: error: "), "{line}");
    assert!(line.contains(image), "names the image: {line}");
    for word in expect {
        assert!(line.contains(word), "{image}: expected {word:?} in: {line}");
    }
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "{image}: left files behind: {left:?}");
}

fn layout_with(dir: &Path, layers: &[Vec<u8>]) -> LayoutWriter {
    LayoutWriter::image(dir, layers)
}

#[test]
fn blob_not_matching_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let layer = gzip_tar(&[Entry::File(b"etc/motd", b"hello\n")]);
    let w = layout_with(dir.path(), std::slice::from_ref(&layer));
    // Swap in a different, perfectly valid layer under the same digest.
    let digest = format!("sha256:{}", sha256_hex(&layer));
    std::fs::write(
        w.blob_path(&digest),
        gzip_tar(&[Entry::File(b"etc/motd", b"evil!\n")]),
    )
    .unwrap();
    fails_cleanly(&w.reference(), &["layer 1/1", "does not match its digest"]);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn truncated_gzip_layer() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut layer = gzip_tar(&[Entry::File(b"data.bin", &big)]);
    layer.truncate(layer.len() / 2);
    let w = layout_with(dir.path(), &[layer]);
    fails_cleanly(&w.reference(), &["layer 1/1", "truncated"]);
}

#[test]
fn tar_entry_climbing_out_of_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let w = layout_with(
        dir.path(),
        &[gzip_tar(&[Entry::File(
            b"../../etc/passwd",
            b"root::0:0\n",
        )])],
    );
    fails_cleanly(
        &w.reference(),
        &["../../etc/passwd", "leaves the image root"],
    );
}

#[test]
fn entry_written_through_an_escaping_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let layer = gzip_tar(&[
        Entry::Symlink(b"evil", b"../../../../../../etc"),
        Entry::File(b"evil/passwd", b"root::0:0\n"),
    ]);
    let w = layout_with(dir.path(), &[layer]);
    fails_cleanly(&w.reference(), &["evil/passwd", "leaves the image root"]);
}

#[test]
fn arm64_only_image() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::new(dir.path());
    let (manifest, size) = w.manifest("arm64", &[gzip_tar(&[Entry::Dir(b"etc/")])]);
    let index = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest, "size": size,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]});
    let bytes = serde_json::to_vec(&index).unwrap();
    let index_digest = w.blob(&bytes);
    w.index(
        "application/vnd.oci.image.index.v1+json",
        &index_digest,
        bytes.len(),
        None,
    );
    fails_cleanly(&w.reference(), &["no linux/amd64 image", "linux/arm64/v8"]);
}

#[test]
fn missing_tag_in_a_layout_and_in_a_registry() {
    let busybox = oci_ref("busybox");
    let missing = busybox.replace(":latest", ":no-such-tag");
    fails_cleanly(&missing, &["no tag \"no-such-tag\"", "latest"]);
    let registry = Registry::start();
    registry.push("busybox", &[]);
    let image = format!("docker://{}/oci2wasm/busybox:no-such-tag", registry.addr);
    fails_cleanly(&image, &["manifest no-such-tag not found in registry"]);
}

#[test]
fn unreachable_registry() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    fails_cleanly(
        "docker://127.0.0.1:1/oci2wasm/busybox:latest",
        &["cannot reach registry 127.0.0.1:1"],
    );
}

#[test]
fn malformed_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::new(dir.path());
    let junk = br#"{"schemaVersion": 2, "config": 42, "layers": "none"}"#;
    let digest = w.blob(junk);
    w.index(
        "application/vnd.oci.image.manifest.v1+json",
        &digest,
        junk.len(),
        None,
    );
    fails_cleanly(&w.reference(), &["malformed manifest"]);
}

#[test]
fn not_an_image_at_all() {
    let dir = tempfile::tempdir().unwrap();
    fails_cleanly(
        &format!("oci:{}", dir.path().display()),
        &["not an OCI image layout"],
    );
    let file = dir.path().join("junk.tar");
    std::fs::write(&file, b"this is not a tarball").unwrap();
    fails_cleanly(&format!("docker-archive:{}", file.display()), &["junk.tar"]);
    fails_cleanly("ftp://example/x", &["unknown transport"]);
}
