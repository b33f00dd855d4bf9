//! Arguments shared by every command that reads an image, and turning them into a fetch.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use oci2wasm_fetch::{FetchOptions, Image, ImageRef, PlatformSpec, Progress, RegistryOptions};

/// Where the image comes from and how to fetch it.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// The image: docker://HOST/REPO:TAG, oci:DIR[:TAG], docker-archive:FILE[:REPO:TAG] or dir:PATH.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Platform to pick from a multi-platform image (OS/ARCH[/VARIANT]).
    #[arg(long, default_value = "linux/amd64", value_name = "PLATFORM")]
    pub platform: PlatformSpec,

    /// Reach this registry (HOST[:PORT]) over plain HTTP; loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// Blob cache directory [default: $XDG_CACHE_HOME/oci2wasm or ~/.cache/oci2wasm].
    #[arg(long, value_name = "DIR", env = "OCI2WASM_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Never draw progress bars (they are drawn only when stderr is a terminal anyway).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl ImageArgs {
    /// Parses the reference and fetches the image with every layer applied.
    pub fn fetch(&self) -> Result<Image> {
        let reference = ImageRef::parse(&self.image)?;
        let options = FetchOptions {
            platform: self.platform.clone(),
            registry: RegistryOptions {
                insecure: self.insecure_registries.clone(),
            },
            cache_dir: self.cache_dir.clone(),
            progress: self.progress(),
        };
        Ok(oci2wasm_fetch::fetch(&reference, &options)?)
    }

    /// Progress bars when stderr is a terminal and not `--quiet`.
    pub fn progress(&self) -> Progress {
        Progress::new(!self.quiet && std::io::stderr().is_terminal())
    }
}
