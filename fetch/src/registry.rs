//! Registry pulls through `oci-client`: manifests (OCI and Docker schema 2, indexes and manifest
//! lists), the config, and layer blobs streamed into the blob cache and verified on the way.
//!
//! Plain HTTP is used for loopback registries and those named in `insecure`, HTTPS otherwise.
//! Credentials come from `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), including
//! credential helpers; the client trades them for a bearer token when the registry asks for one.
//! Manifests fetched by digest and all blobs are kept in the cache, so pulling an image a second
//! time asks the registry only which digest its tag names.

use std::io::{Read, Write};
use std::path::PathBuf;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::cache::BlobCache;
use crate::digest::{Digest, VerifyingReader};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{self, Manifest, PlatformSpec};
use crate::progress::Progress;
use crate::source::{LayerInfo, LayerSource, Resolved};

/// How to talk to registries.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Registries (`HOST[:PORT]`) to reach over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
}

/// Whether `host` (with optional port) is a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The Docker client config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// Credentials for `registry` from the Docker config, anonymous if there are none.
fn auth_for(registry: &str) -> Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    // docker_credential reports a missing file like an unreadable one; no file means anonymous.
    let Some(config) = docker_config_path().filter(|p| p.is_file()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    match docker_credential::get_credential(registry) {
        Ok(DockerCredential::UsernamePassword(user, pass)) => Ok(RegistryAuth::Basic(user, pass)),
        // An identity token is an OAuth refresh token, which the client cannot use; try anonymous.
        Ok(DockerCredential::IdentityToken(_)) => Ok(RegistryAuth::Anonymous),
        Err(E::ConfigNotFound | E::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        Err(e) => Err(Error::new(
            ErrorKind::Auth,
            format!(
                "cannot read Docker credentials for {registry} from {}: {e}",
                config.display()
            ),
        )),
    }
}

/// Maps a client error to ours, naming what was being fetched.
fn classify(err: OciDistributionError, what: &str, registry: &str) -> Error {
    let kind = match &err {
        OciDistributionError::ImageManifestNotFoundError(_) => ErrorKind::NotFound,
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => ErrorKind::Auth,
        OciDistributionError::ServerError { code: 404, .. } => ErrorKind::NotFound,
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                )
            }) =>
        {
            ErrorKind::NotFound
        }
        OciDistributionError::RegistryError { envelope, .. }
            if envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) =>
        {
            ErrorKind::Auth
        }
        OciDistributionError::ManifestParsingError(_) | OciDistributionError::JsonError(_) => {
            ErrorKind::Manifest
        }
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            return Error::new(
                ErrorKind::Registry,
                format!("cannot reach registry {registry}"),
            )
            .with_source(err);
        }
        _ => ErrorKind::Registry,
    };
    let message = match kind {
        // The registry's own words add nothing to a plain "not found".
        ErrorKind::NotFound => {
            return Error::new(kind, format!("{what} not found in registry {registry}"));
        }
        ErrorKind::Auth => format!("registry {registry} refused access to {what}"),
        _ => format!("cannot fetch {what} from registry {registry}"),
    };
    Error::new(kind, message).with_source(err)
}

/// A registry image being pulled.
pub struct RegistrySource<'a> {
    client: Client,
    reference: Reference,
    auth: RegistryAuth,
    cache: &'a BlobCache,
    progress: &'a Progress,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for RegistrySource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

impl<'a> RegistrySource<'a> {
    pub fn new(
        reference: Reference,
        options: &RegistryOptions,
        cache: &'a BlobCache,
        progress: &'a Progress,
    ) -> Result<Self> {
        let registry = reference.resolve_registry().to_string();
        let mut plain: Vec<String> = options.insecure.clone();
        if is_loopback(&registry) {
            plain.push(registry.clone());
        }
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..ClientConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Io, "cannot start the network runtime").with_source(e)
            })?;
        Ok(RegistrySource {
            client: Client::new(config),
            auth: auth_for(&registry)?,
            reference,
            cache,
            progress,
            runtime,
        })
    }

    fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// Fetches a manifest by tag or digest. A cached manifest is used when the reference names
    /// its digest, or when the registry's answer to a `HEAD` for the tag names a cached one.
    fn manifest(&self, reference: &Reference, what: &str) -> Result<(Vec<u8>, Digest)> {
        let known = match reference.digest() {
            Some(digest) => Some(digest.to_string()),
            // A registry that does not answer HEAD with a digest is simply asked for the body.
            None => self
                .runtime
                .block_on(self.client.fetch_manifest_digest(reference, &self.auth))
                .ok(),
        };
        if let Some(digest) = known.as_deref().and_then(|d| Digest::parse(d).ok())
            && let Some(path) = self.cache.get(&digest)
        {
            let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            if digest.verify(&bytes, what).is_ok() {
                return Ok((bytes, digest));
            }
        }
        let (bytes, _) = self
            .runtime
            .block_on(
                self.client
                    .pull_manifest_raw(reference, &self.auth, &manifest::ACCEPTED),
            )
            .map_err(|e| classify(e, what, self.registry()))?;
        // Our own digest of the bytes: the registry's header is not trusted.
        let digest = Digest::of(&bytes);
        if let Some(expected) = reference.digest() {
            Digest::parse(expected)?.verify(&bytes, what)?;
        }
        if self.cache.get(&digest).is_none() {
            self.cache.put(&digest, &bytes, what)?;
        }
        Ok((bytes.to_vec(), digest))
    }

    /// Resolves the reference to one image manifest for `platform`, its config and layers, and
    /// downloads every layer not yet cached.
    pub fn resolve(&self, platform: &PlatformSpec) -> Result<Resolved> {
        let mut reference = self.reference.clone();
        let mut what = format!(
            "manifest {}",
            reference.tag().or(reference.digest()).unwrap_or("latest")
        );
        for _ in 0..4 {
            let (bytes, digest) = self.manifest(&reference, &what)?;
            match manifest::parse(&bytes, None, &what)? {
                Manifest::Index(index) => {
                    let entry = manifest::select(&index, platform)?;
                    let entry_digest = manifest::descriptor_digest(entry)?;
                    what = format!("manifest {entry_digest}");
                    reference = Reference::with_digest(
                        reference.registry().to_string(),
                        reference.repository().to_string(),
                        entry_digest.to_string(),
                    );
                }
                Manifest::Image(image) => {
                    let config_digest = manifest::descriptor_digest(image.config())?;
                    let config = self.blob_bytes(&config_digest, "image config")?;
                    let layers: Vec<LayerInfo> = image
                        .layers()
                        .iter()
                        .map(|l| {
                            Ok(LayerInfo {
                                digest: manifest::descriptor_digest(l)?,
                                size: l.size(),
                                media_type: l.media_type().to_string(),
                            })
                        })
                        .collect::<Result<_>>()?;
                    let locations = self.download_layers(&layers)?;
                    return Ok(Resolved {
                        manifest_digest: Some(digest),
                        config,
                        layers,
                        locations,
                    });
                }
            }
        }
        Err(Error::new(
            ErrorKind::Manifest,
            "image indexes nest too deeply",
        ))
    }

    fn blob_bytes(&self, digest: &Digest, what: &str) -> Result<Vec<u8>> {
        let path = self.download(digest, 0, what)?;
        std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))
    }

    fn download_layers(&self, layers: &[LayerInfo]) -> Result<Vec<String>> {
        let mut locations = Vec::new();
        for layer in layers {
            let path = self.download(
                &layer.digest,
                layer.size,
                &format!("layer {}", layer.digest),
            )?;
            locations.push(path.to_string_lossy().into_owned());
        }
        Ok(locations)
    }

    /// Streams a blob into the cache unless it is there already.
    fn download(&self, digest: &Digest, size: u64, what: &str) -> Result<PathBuf> {
        if let Some(path) = self.cache.get(digest) {
            return Ok(path);
        }
        let mut writer = self.cache.writer(digest)?;
        let bar = self
            .progress
            .bytes(size, format!("pull {}", digest.short()));
        self.runtime.block_on(async {
            let stream = self
                .client
                .pull_blob_stream(&self.reference, digest.as_str())
                .await
                .map_err(|e| classify(e, what, self.registry()))?;
            let mut chunks = stream.stream.map_err(|e| {
                Error::new(ErrorKind::Registry, format!("download of {what} failed")).with_source(e)
            });
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                writer
                    .write_all(&chunk)
                    .map_err(|e| Error::io("cannot write", self.cache.root(), e))?;
                bar.inc(chunk.len() as u64);
            }
            Ok::<(), Error>(())
        })?;
        bar.finish_and_clear();
        writer.commit(what)
    }
}

impl LayerSource for RegistrySource<'_> {
    fn open_layer(&self, resolved: &Resolved, index: usize) -> Result<Box<dyn Read + Send + '_>> {
        let path = PathBuf::from(&resolved.locations[index]);
        let file = std::fs::File::open(&path).map_err(|e| Error::io("cannot open", &path, e))?;
        let layer = &resolved.layers[index];
        Ok(Box::new(VerifyingReader::new(
            file,
            layer.digest.clone(),
            format!("layer {}", layer.digest),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["docker.io", "10.0.0.1:5000", "example.com:443"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
