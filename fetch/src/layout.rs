//! Local images: OCI image layouts (`oci:DIR[:TAG]`) and `docker save` archives
//! (`docker-archive:FILE[:REPO:TAG]`), both read through a [`Store`].
//!
//! An OCI layout is `oci-layout` + `index.json` + `blobs/ALG/HEX`; a tag is the
//! `org.opencontainers.image.ref.name` annotation of an index entry. A `docker save` archive has a
//! `manifest.json` listing, per image, its config file, `RepoTags` and layer files; old archives
//! name files by id (`ID/layer.tar`, `ID.json`), newer ones embed an OCI layout and point into its
//! `blobs/sha256/`, and both forms are read from `manifest.json`.

use std::io::Read;

use oci_spec::image::{Descriptor, ImageConfiguration};

use crate::digest::{Digest, VerifyingReader};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{self, Manifest, PlatformSpec};
use crate::source::{LayerInfo, LayerSource, Resolved};
use crate::store::Store;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Resolves an OCI layout to the image for `tag` (or its only image) and `platform`.
pub fn resolve_layout(
    store: &Store,
    tag: Option<&str>,
    platform: &PlatformSpec,
) -> Result<Resolved> {
    let layout = store.read("oci-layout").map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::new(
                ErrorKind::Manifest,
                format!(
                    "{} is not an OCI image layout (no oci-layout file)",
                    store.location().display()
                ),
            )
        } else {
            e
        }
    })?;
    let layout: serde_json::Value = serde_json::from_slice(&layout).map_err(|e| {
        Error::new(
            ErrorKind::Manifest,
            format!("malformed oci-layout file: {e}"),
        )
    })?;
    if layout
        .get("imageLayoutVersion")
        .and_then(|v| v.as_str())
        .is_none()
    {
        return Err(Error::new(
            ErrorKind::Manifest,
            "oci-layout has no imageLayoutVersion",
        ));
    }
    let Manifest::Index(index) = manifest::parse(
        &store.read("index.json")?,
        Some(manifest::OCI_INDEX),
        "index.json",
    )?
    else {
        return Err(Error::new(
            ErrorKind::Manifest,
            "index.json is not an image index",
        ));
    };
    let tag_of = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .cloned()
    };
    let entry = match tag {
        Some(tag) => index
            .manifests()
            .iter()
            .find(|d| tag_of(d).as_deref() == Some(tag)),
        None if index.manifests().len() == 1 => index.manifests().first(),
        None => index
            .manifests()
            .iter()
            .find(|d| tag_of(d).as_deref() == Some("latest")),
    };
    let Some(entry) = entry else {
        let mut tags: Vec<String> = index.manifests().iter().filter_map(tag_of).collect();
        tags.sort();
        let want = tag
            .map(|t| format!("tag {t:?}"))
            .unwrap_or_else(|| "a default image".into());
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no {want} in the layout; its tags are: {}",
                if tags.is_empty() {
                    "(none)".into()
                } else {
                    tags.join(", ")
                }
            ),
        ));
    };
    resolve_descriptor(store, entry, platform, 0)
}

/// Follows a descriptor through nested indexes to an image manifest.
fn resolve_descriptor(
    store: &Store,
    desc: &Descriptor,
    platform: &PlatformSpec,
    depth: u32,
) -> Result<Resolved> {
    if depth > 4 {
        return Err(Error::new(
            ErrorKind::Manifest,
            "image indexes nest too deeply",
        ));
    }
    let digest = manifest::descriptor_digest(desc)?;
    let bytes = read_blob(store, &digest, "manifest")?;
    let hint = desc.media_type().to_string();
    match manifest::parse(&bytes, Some(&hint), &format!("manifest {digest}"))? {
        Manifest::Index(index) => {
            let entry = manifest::select(&index, platform)?;
            resolve_descriptor(store, entry, platform, depth + 1)
        }
        Manifest::Image(image) => {
            let config_digest = manifest::descriptor_digest(image.config())?;
            let config = read_blob(store, &config_digest, "image config")?;
            let mut layers = Vec::new();
            let mut locations = Vec::new();
            for layer in image.layers() {
                let digest = manifest::descriptor_digest(layer)?;
                locations.push(format!("blobs/sha256/{}", digest.hex()));
                layers.push(LayerInfo {
                    digest,
                    size: layer.size(),
                    media_type: layer.media_type().to_string(),
                });
            }
            Ok(Resolved {
                manifest_digest: Some(digest),
                config,
                layers,
                locations,
            })
        }
    }
}

/// Reads a small blob and checks it.
fn read_blob(store: &Store, digest: &Digest, what: &str) -> Result<Vec<u8>> {
    let bytes = store.read(&format!("blobs/sha256/{}", digest.hex()))?;
    digest.verify(&bytes, &format!("{what} {digest}"))?;
    Ok(bytes)
}

/// One image entry of a `docker save` manifest.json.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The digest a store path names, for `blobs/sha256/HEX` and `HEX.json` style names.
fn digest_in_name(path: &str) -> Option<Digest> {
    let name = path.rsplit('/').next()?;
    let hex = name.strip_suffix(".json").unwrap_or(name);
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// Resolves a `docker save` archive to the image tagged `tag` (or its only image).
pub fn resolve_archive(store: &Store, tag: Option<&str>) -> Result<Resolved> {
    let bytes = store.read("manifest.json").map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::new(
                ErrorKind::Manifest,
                format!(
                    "{} is not a docker-archive (no manifest.json)",
                    store.location().display()
                ),
            )
        } else {
            e
        }
    })?;
    let entries: Vec<ArchiveEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| Error::new(ErrorKind::Manifest, format!("malformed manifest.json: {e}")))?;
    let tags = |e: &ArchiveEntry| e.repo_tags.clone().unwrap_or_default();
    let entry = match tag {
        Some(tag) => entries.iter().find(|e| tags(e).iter().any(|t| t == tag)),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    let Some(entry) = entry else {
        let all: Vec<String> = entries.iter().flat_map(tags).collect();
        let want = tag
            .map(|t| format!("image tagged {t:?}"))
            .unwrap_or_else(|| "single image (name one as FILE:REPO:TAG)".into());
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no {want} in the archive; it holds: {}", all.join(", ")),
        ));
    };
    let config = store.read(&entry.config)?;
    if let Some(digest) = digest_in_name(&entry.config) {
        digest.verify(&config, &format!("image config {}", entry.config))?;
    }
    let parsed: ImageConfiguration = serde_json::from_slice(&config).map_err(|e| {
        Error::new(
            ErrorKind::Manifest,
            format!("malformed image config {}: {e}", entry.config),
        )
    })?;
    let diff_ids = parsed.rootfs().diff_ids();
    if diff_ids.len() != entry.layers.len() {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!(
                "manifest.json lists {} layers but the config has {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
        let (_, size) = store.open(path)?;
        // Blob-named layers are checked against their name; classic `ID/layer.tar` ones, which
        // `docker save` writes uncompressed, against the config's diff_id.
        let digest = match digest_in_name(path) {
            Some(d) => d,
            None => Digest::parse(diff_id)?,
        };
        let media_type = if path.ends_with(".gz") {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        } else {
            "application/vnd.docker.image.rootfs.diff.tar"
        };
        layers.push(LayerInfo {
            digest,
            size,
            media_type: media_type.into(),
        });
    }
    Ok(Resolved {
        manifest_digest: None,
        config,
        layers,
        locations: entry.layers.clone(),
    })
}

impl LayerSource for Store {
    fn open_layer(&self, resolved: &Resolved, index: usize) -> Result<Box<dyn Read + Send + '_>> {
        let (reader, _) = self.open(&resolved.locations[index])?;
        let layer = &resolved.layers[index];
        Ok(Box::new(VerifyingReader::new(
            reader,
            layer.digest.clone(),
            format!("layer {}", layer.digest),
        )))
    }
}
