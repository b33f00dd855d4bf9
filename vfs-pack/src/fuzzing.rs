//! The robustness harness shared by the cargo-fuzz target (`fuzz/fuzz_targets/reader.rs`) and the
//! property tests (`tests/roundtrip.rs`): everything the reader can be asked, on arbitrary bytes.
//! Not part of the stable API.

use crate::format::Kind;
use crate::read::{Image, InodeRef};

/// Paths resolved from the root and from every directory, in both follow modes.
const PATHS: &[&[u8]] = &[
    b"/",
    b".",
    b"..",
    b"/../..//./",
    b"a",
    b"a/b/../c/",
    b"/etc/passwd",
    b"bin/sh",
];

/// Entries whose names are also resolved as paths: bounds the work per input to a few thousand
/// resolutions, each bounded by the path and symlink budget.
const NAME_RESOLUTIONS: u32 = 256;

/// Parses `bytes` (with and without the checksum) and asks the reader everything: every inode,
/// every directory entry, every symlink target, file data, lookups and path resolutions. Panics
/// only if the reader breaks one of its own guarantees (a panic inside the reader, or file data or
/// a link target whose length differs from the validated size); returns normally for any input.
pub fn exercise(bytes: &[u8]) {
    let checked = Image::parse(bytes);
    let Ok(image) = Image::parse_unchecked(bytes) else {
        assert!(
            checked.is_err(),
            "a checked parse accepted what an unchecked one rejected"
        );
        return;
    };
    let mut names_left = NAME_RESOLUTIONS;
    resolve_all(&image, &image.root(), PATHS);
    for ino in 0..image.inode_count() {
        let Ok(inode) = image.inode(ino) else {
            continue;
        };
        match inode.kind() {
            Kind::File => assert_eq!(image.file_data(&inode).len() as u64, inode.size()),
            Kind::Symlink => {
                let target = image
                    .readlink(&inode)
                    .expect("a validated symlink has a target");
                assert_eq!(target.len() as u64, inode.size());
                resolve_all(&image, &image.root(), &[target]);
            }
            Kind::Dir => walk_dir(&image, &inode, &mut names_left),
            _ => assert!(image.readlink(&inode).is_err() && image.file_data(&inode).is_empty()),
        }
    }
}

/// Lists `dir`, looks every listed name up again and resolves some of them as paths.
fn walk_dir(image: &Image<'_>, dir: &InodeRef, names_left: &mut u32) {
    let _ = image.parent(dir);
    let Ok(entries) = image.readdir(dir) else {
        return;
    };
    for entry in entries {
        let Ok(entry) = entry else { break };
        let _ = image.lookup(dir, entry.name);
        if let Some(left) = names_left.checked_sub(1) {
            *names_left = left;
            resolve_all(image, dir, &[entry.name]);
        }
    }
    let resumed = image.readdir_from(dir, dir.entry_count().saturating_sub(1));
    assert!(resumed.is_ok_and(|r| r.count() <= 1));
    if *names_left > 0 {
        resolve_all(image, dir, PATHS);
    }
}

fn resolve_all(image: &Image<'_>, start: &InodeRef, paths: &[&[u8]]) {
    for path in paths {
        for follow in [false, true] {
            let _ = image.resolve(start, path, follow);
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::tree::{Inode, Meta, Node, Tree};
    use std::vec::Vec;

    #[test]
    fn exercise_survives_valid_truncated_and_garbage_input() {
        let mut t = Tree::new();
        let f = t.add(Inode {
            meta: Meta::root(0o644),
            node: Node::File(b"x".to_vec()),
        });
        t.link(t.root(), b"a", f);
        let l = t.add(Inode {
            meta: Meta::root(0o777),
            node: Node::Symlink(b"a/..".to_vec()),
        });
        t.link(t.root(), b"l", l);
        let mut bytes = Vec::new();
        crate::write(&t, &mut bytes).unwrap();
        exercise(&bytes);
        for len in (0..bytes.len()).step_by(7) {
            exercise(&bytes[..len]);
        }
        for i in 0..200 {
            let mut bad = bytes.clone();
            bad[i] ^= 0x55;
            exercise(&bad);
        }
        exercise(&[0xff; 200]);
    }
}
