//! Layer application seen from outside: the `layered` fixture (whiteouts, an opaque directory,
//! hard links, mode and content changes across four layers) packed and read back, checked line by
//! line against `fixtures/layered.expected`.

use vfs_pack::{FsError, Image, Kind};

use crate::support::{oci_ref, repo_root, run_ok};

#[test]
fn layered_image_matches_its_expected_tree() {
    let cache = tempfile::tempdir().unwrap();
    let out = cache.path().join("layered.vfs");
    run_ok(
        cache.path(),
        &[
            "pack",
            "-q",
            &oci_ref("layered"),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&out).unwrap();
    let image = Image::parse(&bytes).unwrap();
    let root = image.root();
    let expected = std::fs::read_to_string(repo_root().join("fixtures/layered.expected")).unwrap();
    let mut checked = 0;
    for line in expected
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (kind, path, mode, owner) = (cols[0], cols[1], cols[2], cols[3]);
        let detail = cols[4..].join(" ");
        let at = image.resolve(&root, path.as_bytes(), false);
        if kind == "absent" {
            assert_eq!(at.err(), Some(FsError::NotFound), "{path} must be gone");
            checked += 1;
            continue;
        }
        let inode = at.unwrap_or_else(|e| panic!("{path}: {e:?}"));
        let want_kind = match kind {
            "file" | "hardlink" => Kind::File,
            "dir" => Kind::Dir,
            "symlink" => Kind::Symlink,
            other => panic!("unknown kind {other} in layered.expected"),
        };
        assert_eq!(inode.kind(), want_kind, "{path}");
        if mode != "-" && kind != "symlink" {
            assert_eq!(
                format!("{:04o}", inode.mode() & 0o7777),
                mode,
                "{path} mode"
            );
        }
        if owner != "-" {
            assert_eq!(
                format!("{}:{}", inode.uid(), inode.gid()),
                owner,
                "{path} owner"
            );
        }
        match kind {
            "file" if detail != "-" => {
                assert_eq!(
                    image.file_data(&inode),
                    format!("{detail}\n").as_bytes(),
                    "{path}"
                );
            }
            "symlink" => assert_eq!(image.readlink(&inode).unwrap(), detail.as_bytes(), "{path}"),
            "hardlink" => {
                let other = image.resolve(&root, detail.as_bytes(), false).unwrap();
                assert_eq!(
                    inode.ino(),
                    other.ino(),
                    "{path} and {detail} share an inode"
                );
                assert!(inode.nlink() >= 2, "{path} nlink");
            }
            _ => {}
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} expectations read");
}
