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

/// Changes to the image's run config made at conversion, as `docker run` would make them.
#[derive(Debug, Default, clap::Args)]
pub struct ConfigOverrides {
    /// Replace the image's Entrypoint with this program (and drop its Cmd), as `docker run
    /// --entrypoint` does.
    #[arg(long, value_name = "PROGRAM")]
    pub entrypoint: Option<String>,

    /// Replace the image's Cmd; repeat for more arguments (`--cmd /bin/app --cmd -v`). Needed for
    /// `dir:` trees, which have neither Entrypoint nor Cmd. Run-time arguments still replace it.
    #[arg(long = "cmd", value_name = "ARG")]
    pub cmd: Vec<String>,

    /// Replace the image's WorkingDir.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
}

impl ConfigOverrides {
    /// Applies the overrides to `image`'s config.
    pub fn apply(&self, image: &mut oci2wasm_fetch::spec::ImageConfiguration) {
        let mut config = image.config().clone().unwrap_or_default();
        if let Some(dir) = &self.workdir {
            config.set_working_dir(Some(dir.clone()));
        }
        if let Some(entrypoint) = self.entrypoint.as_ref().filter(|e| !e.is_empty()) {
            config.set_entrypoint(Some(vec![entrypoint.clone()]));
            config.set_cmd(None);
        }
        if !self.cmd.is_empty() {
            config.set_cmd(Some(self.cmd.clone()));
        }
        image.set_config(Some(config));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_follow_docker_run() {
        let mut image = oci2wasm_fetch::spec::ImageConfiguration::default();
        let mut config = oci2wasm_fetch::spec::Config::default();
        config.set_entrypoint(Some(vec!["/bin/busybox".into()]));
        config.set_cmd(Some(vec!["sh".into()]));
        image.set_config(Some(config));
        let entry = ConfigOverrides {
            entrypoint: Some("/bin/app".into()),
            ..Default::default()
        };
        entry.apply(&mut image);
        let c = image.config().clone().unwrap();
        assert_eq!(
            c.entrypoint().as_deref(),
            Some(&["/bin/app".to_string()][..])
        );
        assert_eq!(c.cmd(), &None, "--entrypoint drops Cmd");
        let cmd = ConfigOverrides {
            cmd: vec!["-v".into()],
            workdir: Some("/w".into()),
            ..Default::default()
        };
        cmd.apply(&mut image);
        let c = image.config().clone().unwrap();
        assert_eq!(c.cmd().as_deref(), Some(&["-v".to_string()][..]));
        assert_eq!(c.working_dir().as_deref(), Some("/w"));
    }
}
