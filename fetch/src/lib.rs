//! Image fetching for oci2wasm: from an image reference to a verified config and an in-memory root
//! filesystem.
//!
//! ```text
//! ImageRef ──► source (registry │ OCI layout │ docker archive │ directory)
//!          ──► Resolved { manifest digest, config JSON (verified), layers }
//!          ──► each layer streamed, checked against its digest, applied in order ──► Tree
//! ```
//!
//! Every blob is checked against its digest while it streams (a registry blob before it enters
//! the cache, a local blob as it is read), so a corrupt byte anywhere is an error, never a
//! different filesystem. Layers are applied in memory ([`vfs_pack::tree::Tree`]); nothing from an
//! image is ever written to the host. Errors carry the image reference and what they are about:
//!
//! ```no_run
//! use oci2wasm_fetch::{fetch, FetchOptions, ImageRef};
//! let image = fetch(&ImageRef::parse("oci:fixtures/out/busybox/oci:latest")?, &FetchOptions::default())?;
//! println!("{} layers, entrypoint {:?}", image.layers.len(),
//!     image.config.config().as_ref().and_then(|c| c.entrypoint().clone()));
//! # Ok::<(), oci2wasm_fetch::Error>(())
//! ```

mod cache;
mod digest;
mod dir;
mod error;
mod layer;
mod layout;
mod manifest;
mod progress;
mod reference;
mod registry;
mod source;
mod store;
mod unpack;

use std::path::PathBuf;

use oci_spec::image::{Arch, ImageConfiguration, Os};
use vfs_pack::tree::Tree;

pub use cache::BlobCache;
pub use digest::Digest;
pub use error::{Error, ErrorKind, Result};
pub use layer::{Compression, LayerStats, apply_layer};
pub use manifest::PlatformSpec;
pub use oci_spec::image as spec;
pub use progress::Progress;
pub use reference::ImageRef;
pub use registry::RegistryOptions;
pub use source::LayerInfo;
pub use unpack::{Unpacked, unpack};

use source::{LayerSource, Resolved};

/// How to fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// The platform to pick from multi-platform images; `linux/amd64` by default.
    pub platform: PlatformSpec,
    pub registry: RegistryOptions,
    /// The blob cache; [`BlobCache::default_location`] when `None`.
    pub cache_dir: Option<PathBuf>,
    pub progress: Progress,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            platform: PlatformSpec::default(),
            registry: RegistryOptions::default(),
            cache_dir: None,
            progress: Progress::hidden(),
        }
    }
}

/// A fetched image: its config, its layers and its root filesystem with every layer applied.
#[derive(Debug)]
pub struct Image {
    pub reference: ImageRef,
    /// The digest of the image manifest (registry and OCI layout sources).
    pub manifest_digest: Option<Digest>,
    pub config: ImageConfiguration,
    pub layers: Vec<LayerInfo>,
    pub rootfs: Tree,
}

/// Fetches `reference` and applies its layers. Every error names the image.
pub fn fetch(reference: &ImageRef, options: &FetchOptions) -> Result<Image> {
    fetch_inner(reference, options).map_err(|e| e.context(format!("image {reference}")))
}

fn fetch_inner(reference: &ImageRef, options: &FetchOptions) -> Result<Image> {
    let progress = &options.progress;
    match reference {
        ImageRef::Dir(path) => {
            let rootfs = dir::read_dir_tree(path, progress)?;
            let mut config = ImageConfiguration::default();
            config.set_architecture(Arch::Amd64);
            config.set_os(Os::Linux);
            Ok(Image {
                reference: reference.clone(),
                manifest_digest: None,
                config,
                layers: vec![],
                rootfs,
            })
        }
        ImageRef::OciLayout { dir, tag } => {
            let store = store::Store::dir(dir)?;
            let resolved = layout::resolve_layout(&store, tag.as_deref(), &options.platform)?;
            assemble(reference, resolved, &store, options)
        }
        ImageRef::DockerArchive { file, tag } => {
            let store = store::Store::tar(file)?;
            let resolved = layout::resolve_archive(&store, tag.as_deref())?;
            assemble(reference, resolved, &store, options)
        }
        ImageRef::Registry(r) => {
            let cache = BlobCache::new(match &options.cache_dir {
                Some(dir) => dir.clone(),
                None => BlobCache::default_location()?,
            });
            let source =
                registry::RegistrySource::new(r.clone(), &options.registry, &cache, progress)?;
            let resolved = source.resolve(&options.platform)?;
            assemble(reference, resolved, &source, options)
        }
    }
}

/// Parses the config, checks the platform and applies the layers.
fn assemble(
    reference: &ImageRef,
    resolved: Resolved,
    source: &dyn LayerSource,
    options: &FetchOptions,
) -> Result<Image> {
    let config: ImageConfiguration = serde_json::from_slice(&resolved.config)
        .map_err(|e| Error::new(ErrorKind::Manifest, format!("malformed image config: {e}")))?;
    let (os, arch) = (config.os().to_string(), config.architecture().to_string());
    if !options
        .platform
        .matches(&os, &arch, config.variant().as_deref())
    {
        return Err(Error::new(
            ErrorKind::Platform,
            format!("the image is {os}/{arch}, not {}", options.platform),
        ));
    }
    let mut rootfs = Tree::new();
    let count = resolved.layers.len();
    for (index, layer) in resolved.layers.iter().enumerate() {
        let context = format!("layer {}/{count} {}", index + 1, layer.digest);
        let bar = options
            .progress
            .bytes(layer.size, format!("apply {}", layer.digest.short()));
        let mut blob = bar.wrap_read(source.open_layer(&resolved, index)?);
        let compression =
            Compression::from_media_type(&layer.media_type).unwrap_or(Compression::None);
        apply_layer(&mut rootfs, &mut blob, compression).map_err(|e| e.context(&context))?;
        // Read to the end so the digest is checked even if the tar ended before the blob did.
        std::io::copy(&mut blob, &mut std::io::sink()).map_err(
            |e| match digest::digest_error_in(&e) {
                Some(_) => Error::new(ErrorKind::Digest, format!("{context}: {e}")),
                None => {
                    Error::new(ErrorKind::Layer, format!("{context}: cannot read")).with_source(e)
                }
            },
        )?;
        bar.finish_and_clear();
    }
    Ok(Image {
        reference: reference.clone(),
        manifest_digest: resolved.manifest_digest,
        config,
        layers: resolved.layers,
        rootfs,
    })
}
