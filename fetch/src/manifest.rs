//! Manifests, indexes and platforms: from raw JSON to the one image manifest to pull.
//!
//! OCI image manifests and indexes and Docker schema 2 manifests and manifest lists share one
//! shape (Docker's are OCI's ancestors), so all four parse into `oci-spec` types; the media type
//! decides which. Docker schema 1 is refused: registries have not served it for years.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type we accept, for registry `Accept` headers.
pub const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// A parsed manifest: one image, or an index of per-platform images.
#[derive(Debug)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// Parses manifest JSON. `hint` is the media type known from outside (a descriptor or a
/// `Content-Type`); the document's own `mediaType` wins, and without either the fields decide.
pub fn parse(bytes: &[u8], hint: Option<&str>, what: &str) -> Result<Manifest> {
    let bad = |why: String| Error::new(ErrorKind::Manifest, format!("malformed {what}: {why}"));
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    if object.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!("{what} is a Docker schema 1 manifest, which is not supported"),
        ));
    }
    let media_type = object.get("mediaType").and_then(|v| v.as_str()).or(hint);
    let is_index = match media_type {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) if hint.is_none() || object.contains_key("mediaType") => {
            return Err(bad(format!("unsupported media type {other}")));
        }
        _ => object.contains_key("manifests"),
    };
    if is_index {
        let index: ImageIndex = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        Ok(Manifest::Index(Box::new(index)))
    } else {
        let manifest: ImageManifest =
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        Ok(Manifest::Image(Box::new(manifest)))
    }
}

/// An `os/architecture[/variant]` platform, like `docker --platform`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for PlatformSpec {
    /// `linux/amd64`: what oci2wasm translates.
    fn default() -> Self {
        PlatformSpec {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::str::FromStr for PlatformSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(PlatformSpec {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(Error::new(
                ErrorKind::Reference,
                format!("bad platform {text:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64"),
            )),
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl PlatformSpec {
    /// Whether an image of `os`/`arch`/`variant` runs here; a missing variant matches any.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == arch
            && match (&self.variant, variant) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    }
}

/// Picks the entry of `index` for `platform`, or explains what the index offers instead.
pub fn select<'a>(index: &'a ImageIndex, platform: &PlatformSpec) -> Result<&'a Descriptor> {
    let mut offered = Vec::new();
    for entry in index.manifests() {
        let Some(p) = entry.platform() else { continue };
        let (os, arch) = (p.os().to_string(), p.architecture().to_string());
        if platform.matches(&os, &arch, p.variant().as_deref()) {
            return Ok(entry);
        }
        // Attestation manifests are listed as unknown/unknown; they are not images.
        if os != "unknown" {
            offered.push(match p.variant() {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            });
        }
    }
    // An index without platforms (common in OCI layouts) with one entry: that entry.
    if let [only] = index.manifests().as_slice()
        && only.platform().is_none()
    {
        return Ok(only);
    }
    offered.sort();
    offered.dedup();
    Err(Error::new(
        ErrorKind::Platform,
        format!(
            "no {platform} image: the index offers {}",
            if offered.is_empty() {
                "no platforms".into()
            } else {
                offered.join(", ")
            }
        ),
    ))
}

/// The digest of a descriptor in our validated form.
pub fn descriptor_digest(desc: &Descriptor) -> Result<Digest> {
    Digest::parse(desc.digest().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn index(platforms: &[(&str, &str)]) -> Vec<u8> {
        let manifests: Vec<_> = platforms
            .iter()
            .map(|(os, arch)| {
                serde_json::json!({"mediaType": OCI_MANIFEST, "digest": D, "size": 0,
                    "platform": {"os": os, "architecture": arch}})
            })
            .collect();
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": manifests}),
        )
        .unwrap()
    }

    #[test]
    fn index_selects_platform_or_lists_offers() {
        let Manifest::Index(idx) =
            parse(&index(&[("linux", "arm64"), ("linux", "amd64")]), None, "x").unwrap()
        else {
            panic!("not an index")
        };
        assert!(select(&idx, &PlatformSpec::default()).is_ok());
        let Manifest::Index(idx) = parse(&index(&[("linux", "arm64")]), None, "x").unwrap() else {
            panic!("not an index")
        };
        let err = select(&idx, &PlatformSpec::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Platform);
        assert!(
            err.to_string()
                .contains("no linux/amd64 image: the index offers linux/arm64")
        );
    }

    #[test]
    fn docker_manifest_parses_and_junk_does_not() {
        let docker = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": D},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": D}]});
        let Manifest::Image(m) = parse(&serde_json::to_vec(&docker).unwrap(), None, "x").unwrap()
        else {
            panic!("not an image")
        };
        assert_eq!(m.layers().len(), 1);
        for junk in [
            &b"{"[..],
            b"[]",
            b"{\"schemaVersion\":2,\"layers\":3}",
            b"{\"schemaVersion\":1}",
        ] {
            let err = parse(junk, None, "manifest of x").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Manifest, "{err}");
        }
    }

    #[test]
    fn platform_strings() {
        let p: PlatformSpec = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("amd64".parse::<PlatformSpec>().is_err());
    }
}
