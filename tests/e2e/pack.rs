//! `pack`: deterministic output, and the packed Debian image resolves its loader like Linux does.

use vfs_pack::{Image, Kind};

use crate::support::{oci_ref, run_ok};

/// Packs fixture `name` twice, requires identical bytes, and returns them.
fn pack_twice(name: &str) -> Vec<u8> {
    let cache = tempfile::tempdir().unwrap();
    let (a, b) = (cache.path().join("a.vfs"), cache.path().join("b.vfs"));
    for out in [&a, &b] {
        run_ok(
            cache.path(),
            &["pack", "-q", &oci_ref(name), "-o", out.to_str().unwrap()],
        );
    }
    let bytes = std::fs::read(a).unwrap();
    assert!(
        bytes == std::fs::read(b).unwrap(),
        "two packs of {name} differ"
    );
    bytes
}

#[test]
fn packing_twice_gives_identical_bytes() {
    let bytes = pack_twice("busybox");
    let image = Image::parse(&bytes).unwrap();
    let sh = image.resolve(&image.root(), b"/bin/sh", true).unwrap();
    assert!(image.file_data(&sh).starts_with(b"\x7fELF"));
}

#[test]
fn debian_loader_symlink_chain_resolves_to_the_real_loader() {
    let bytes = pack_twice("debian");
    let image = Image::parse(&bytes).unwrap();
    let root = image.root();
    // /lib64 -> usr/lib64 (merged /usr), then an absolute symlink to the real file.
    let link = image
        .resolve(&root, b"/lib64/ld-linux-x86-64.so.2", false)
        .unwrap();
    assert_eq!(link.kind(), Kind::Symlink);
    assert!(
        image.readlink(&link).unwrap().starts_with(b"/"),
        "absolute target"
    );
    let loader = image
        .resolve(&root, b"/lib64/ld-linux-x86-64.so.2", true)
        .unwrap();
    assert_eq!(loader.kind(), Kind::File);
    let real = image
        .resolve(
            &root,
            b"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            false,
        )
        .unwrap();
    assert_eq!(loader.ino(), real.ino());
    assert!(image.file_data(&loader).starts_with(b"\x7fELF"));
    let ls = image.resolve(&root, b"/bin/ls", true).unwrap();
    assert_eq!(ls.kind(), Kind::File);
}
