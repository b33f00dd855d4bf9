//! Image references: which transport, and where.
//!
//! The forms follow skopeo's transports, so users can paste what they already use:
//! `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, `oci:DIR[:TAG]`, `docker-archive:FILE[:REPO:TAG]`,
//! `dir:PATH`. A reference without a transport is a registry reference, as with `docker pull`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// An image in a registry.
    Registry(oci_client::Reference),
    /// An OCI image layout directory, optionally with the tag to pick from its index.
    OciLayout { dir: PathBuf, tag: Option<String> },
    /// A `docker save` tarball, optionally with the `REPO:TAG` to pick when it holds several.
    DockerArchive { file: PathBuf, tag: Option<String> },
    /// A plain directory tree taken as the root filesystem, with an empty config.
    Dir(PathBuf),
}

impl ImageRef {
    /// Parses a reference in one of the forms in the module documentation.
    pub fn parse(input: &str) -> Result<ImageRef> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Reference,
                format!("bad image reference {input:?}: {why}"),
            )
        };
        if input.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(rest) = input.strip_prefix("docker://") {
            return parse_registry(rest).map_err(|why| bad(&why));
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, tag) = split_path_and_tag(rest, |tag| !tag.contains('/'));
            if dir.as_os_str().is_empty() {
                return Err(bad("oci: needs a directory"));
            }
            return Ok(ImageRef::OciLayout { dir, tag });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            // FILE:REPO:TAG — the tag part itself has one colon, so split at the second-to-last.
            let (file, tag) = split_path_and_tag(rest, |tag| tag.contains(':'));
            if file.as_os_str().is_empty() {
                return Err(bad("docker-archive: needs a file"));
            }
            return Ok(ImageRef::DockerArchive { file, tag });
        }
        if let Some(rest) = input.strip_prefix("dir:") {
            if rest.is_empty() {
                return Err(bad("dir: needs a directory"));
            }
            return Ok(ImageRef::Dir(PathBuf::from(rest)));
        }
        if let Some((scheme, _)) = input.split_once("://") {
            return Err(bad(&format!(
                "unknown transport {scheme}://; use docker://, oci:, docker-archive: or dir:"
            )));
        }
        parse_registry(input).map_err(|why| bad(&why))
    }

    /// The registry host (with port) for registry references.
    pub fn registry_host(&self) -> Option<&str> {
        match self {
            ImageRef::Registry(r) => Some(r.registry()),
            _ => None,
        }
    }
}

fn parse_registry(rest: &str) -> std::result::Result<ImageRef, String> {
    oci_client::Reference::try_from(rest)
        .map(ImageRef::Registry)
        .map_err(|e| e.to_string())
}

/// Splits `PATH[:SUFFIX]`. The whole string is a path if it exists. Otherwise the split is at a
/// colon whose suffix `is_suffix` accepts, preferring one whose prefix exists, else the first.
fn split_path_and_tag(rest: &str, is_suffix: impl Fn(&str) -> bool) -> (PathBuf, Option<String>) {
    if Path::new(rest).exists() {
        return (PathBuf::from(rest), None);
    }
    let candidates: Vec<usize> = rest
        .match_indices(':')
        .map(|(i, _)| i)
        .filter(|&i| i > 0 && i + 1 < rest.len() && is_suffix(&rest[i + 1..]))
        .collect();
    let chosen = candidates
        .iter()
        .find(|&&i| Path::new(&rest[..i]).exists())
        .or(candidates.first());
    match chosen {
        Some(&i) => (PathBuf::from(&rest[..i]), Some(rest[i + 1..].to_string())),
        None => (PathBuf::from(rest), None),
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(r) => write!(f, "docker://{r}"),
            ImageRef::OciLayout { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            ImageRef::OciLayout { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            ImageRef::DockerArchive { file, tag: Some(t) } => {
                write!(f, "docker-archive:{}:{t}", file.display())
            }
            ImageRef::DockerArchive { file, tag: None } => {
                write!(f, "docker-archive:{}", file.display())
            }
            ImageRef::Dir(d) => write!(f, "dir:{}", d.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_forms() {
        let r = ImageRef::parse("docker://127.0.0.1:5000/oci2wasm/busybox:latest").unwrap();
        let ImageRef::Registry(r) = r else { panic!() };
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "oci2wasm/busybox");
        assert_eq!(r.tag(), Some("latest"));
        let ImageRef::Registry(r) = ImageRef::parse("busybox").unwrap() else {
            panic!()
        };
        assert_eq!(r.repository(), "library/busybox");
        let digest = format!("sha256:{}", "a".repeat(64));
        let ImageRef::Registry(r) = ImageRef::parse(&format!("docker://h:1/r@{digest}")).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.digest(), Some(digest.as_str()));
    }

    #[test]
    fn local_forms() {
        assert_eq!(
            ImageRef::parse("oci:/no/such/dir:v1").unwrap(),
            ImageRef::OciLayout {
                dir: "/no/such/dir".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci:layout").unwrap(),
            ImageRef::OciLayout {
                dir: "layout".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:/x/img.tar:repo/name:tag").unwrap(),
            ImageRef::DockerArchive {
                file: "/x/img.tar".into(),
                tag: Some("repo/name:tag".into())
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:img.tar").unwrap(),
            ImageRef::DockerArchive {
                file: "img.tar".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse("dir:/srv/root").unwrap(),
            ImageRef::Dir("/srv/root".into())
        );
    }

    #[test]
    fn bad_forms_name_the_problem() {
        for bad in ["", "oci:", "dir:", "ftp://x/y", "docker://UPPER/Case"] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Reference, "{bad}");
            assert!(err.to_string().contains("bad image reference"), "{err}");
        }
    }
}
