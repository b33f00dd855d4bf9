//! Layer entry paths: lexical cleaning relative to the image root, and what an entry's name says it
//! is (an ordinary entry, an OCI whiteout, an opaque-directory marker, or AUFS metadata).
//!
//! Cleaning follows Docker's `filepath.Join(root, name)` check: a leading `/` or `./` is dropped,
//! `.` and empty components vanish and `..` removes the component before it, lexically, before any
//! symlink is looked at. A `..` with nothing left to remove leaves the root and is refused.

/// Prefix of a whiteout entry: `DIR/.wh.NAME` deletes `NAME` from `DIR` of the lower layers.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Prefix of whiteout metadata names, which are never part of the image.
const META_PREFIX: &[u8] = b".wh..wh.";
/// `DIR/.wh..wh..opq` makes `DIR` opaque: the lower layers' entries in it are hidden.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// AUFS kept hard-linked files here (at the root) and pointed hard links into it.
pub(super) const AUFS_LINK_DIR: &[u8] = b".wh..wh.plnk";

/// Why a path cannot name an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PathError {
    /// A `..` would go above the image root.
    Escapes,
    /// A NUL byte, which no Linux file name can hold.
    Nul,
}

/// The components of `path` relative to the image root, with `.`, `..` and empty components
/// resolved lexically. Empty for the root itself.
pub(super) fn clean(path: &[u8]) -> Result<Vec<&[u8]>, PathError> {
    if path.contains(&0) {
        return Err(PathError::Nul);
    }
    let mut comps = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                comps.pop().ok_or(PathError::Escapes)?;
            }
            _ => comps.push(comp),
        }
    }
    Ok(comps)
}

/// What a cleaned entry path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target<'p> {
    /// The image root itself (`/`, `.`, `./`).
    Root,
    /// An ordinary entry: create or replace the last component.
    Entry,
    /// `.wh.NAME`: remove `NAME` from the parent (what lower layers put there).
    Whiteout(&'p [u8]),
    /// `.wh..wh..opq`: remove from the parent everything lower layers put there.
    Opaque,
    /// A file in AUFS's root `.wh..wh.plnk` directory, kept aside (by base name) as the target of
    /// hard links into that directory.
    AufsLink(&'p [u8]),
    /// Other whiteout metadata (a last component starting `.wh..wh.`, anything else under a root
    /// `.wh..wh.*` directory): not part of the image.
    Ignored,
}

/// Classifies a cleaned path (from [`clean`]).
pub(super) fn classify<'p>(comps: &[&'p [u8]]) -> Target<'p> {
    let Some((&last, parents)) = comps.split_last() else {
        return Target::Root;
    };
    if let Some(&first) = parents.first()
        && first.starts_with(META_PREFIX)
    {
        return match (first, parents.len()) {
            (AUFS_LINK_DIR, 1) => Target::AufsLink(last),
            _ => Target::Ignored,
        };
    }
    if last == OPAQUE_MARKER {
        Target::Opaque
    } else if last.starts_with(META_PREFIX) {
        Target::Ignored
    } else if let Some(name) = last.strip_prefix(WHITEOUT_PREFIX) {
        Target::Whiteout(name)
    } else {
        Target::Entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(path: &str) -> Result<Vec<&str>, PathError> {
        clean(path.as_bytes()).map(|comps| {
            comps
                .into_iter()
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect()
        })
    }

    #[test]
    fn clean_strips_roots_and_resolves_dots_lexically() {
        assert_eq!(cleaned("./usr/bin/"), Ok(vec!["usr", "bin"]));
        assert_eq!(cleaned("/etc//passwd"), Ok(vec!["etc", "passwd"]));
        assert_eq!(cleaned("a/./b/../c"), Ok(vec!["a", "c"]));
        assert_eq!(cleaned("./"), Ok(vec![]));
        assert_eq!(cleaned("/"), Ok(vec![]));
        assert_eq!(cleaned("a/.."), Ok(vec![]));
    }

    #[test]
    fn clean_refuses_escapes_and_nul() {
        assert_eq!(cleaned("../../etc/passwd"), Err(PathError::Escapes));
        assert_eq!(cleaned("/../etc"), Err(PathError::Escapes));
        assert_eq!(cleaned("a/../../b"), Err(PathError::Escapes));
        assert_eq!(clean(b"a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn classify_names() {
        let c = |p: &'static str| classify(&clean(p.as_bytes()).unwrap());
        assert_eq!(c("./"), Target::Root);
        assert_eq!(c("usr/bin/ls"), Target::Entry);
        assert_eq!(c("usr/.wh.bin"), Target::Whiteout(b"bin"));
        assert_eq!(c(".wh.etc"), Target::Whiteout(b"etc"));
        assert_eq!(c("usr/.wh..wh..opq"), Target::Opaque);
        assert_eq!(c(".wh..wh..opq"), Target::Opaque);
        assert_eq!(c("usr/.wh..wh.aufs"), Target::Ignored);
        assert_eq!(c(".wh..wh.plnk/1234.5"), Target::AufsLink(b"1234.5"));
        assert_eq!(c(".wh..wh.plnk/a/b"), Target::Ignored);
        assert_eq!(c(".wh..wh.orph/x"), Target::Ignored);
        assert_eq!(c(".wh..wh.plnk"), Target::Ignored);
        // A whiteout prefix in a parent component is an ordinary directory name.
        assert_eq!(c(".wh.x/y"), Target::Entry);
    }
}
