//! What every end-to-end test needs: the `oci2wasm` binary, the fixture images (built on demand by
//! `fixtures/build.sh`, which caches them), a local registry, and a small OCI layout writer for the
//! malformed images that the bad-input tests need.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest as _, Sha256};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// Builds fixture `name` (once per test run; `build.sh` skips it when its inputs are unchanged)
/// and returns `fixtures/out`.
pub fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let out = repo_root().join("fixtures/out");
    if !built.contains_key(name) {
        let status = Command::new("bash")
            .arg(repo_root().join("fixtures/build.sh"))
            .arg(name)
            .status()
            .expect("run fixtures/build.sh");
        assert!(status.success(), "fixtures/build.sh {name} failed");
        built.insert(name.to_string(), true);
    }
    out
}

/// `oci:` reference of a fixture's OCI layout.
pub fn oci_ref(name: &str) -> String {
    format!(
        "oci:{}:latest",
        fixture(name).join(name).join("oci").display()
    )
}

/// `docker-archive:` reference of a fixture's archive.
pub fn archive_ref(name: &str) -> String {
    format!(
        "docker-archive:{}",
        fixture(name).join(format!("{name}.tar")).display()
    )
}

/// The binary under test, with a private blob cache so tests never share state with the user.
pub fn oci2wasm(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oci2wasm"));
    cmd.env("OCI2WASM_CACHE_DIR", cache)
        .env_remove("DOCKER_CONFIG");
    cmd
}

/// Runs `oci2wasm ARGS` and returns its output.
pub fn run(cache: &Path, args: &[&str]) -> Output {
    oci2wasm(cache).args(args).output().expect("run oci2wasm")
}

/// Runs `oci2wasm ARGS`, requires success, and returns stdout.
pub fn run_ok(cache: &Path, args: &[&str]) -> String {
    let out = run(cache, args);
    assert!(
        out.status.success(),
        "oci2wasm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `inspect --json [--files]` parsed.
pub fn inspect_json(cache: &Path, image: &str, files: bool) -> serde_json::Value {
    let mut args = vec!["inspect", "--json", image];
    if files {
        args.insert(1, "--files");
    }
    serde_json::from_str(&run_ok(cache, &args)).expect("inspect --json gives JSON")
}

/// A local registry (Debian's `docker-registry`) on 127.0.0.1 with a free port, stopped on drop.
pub struct Registry {
    dir: tempfile::TempDir,
    pub addr: String,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that requires HTTP basic authentication as `user` with `password`.
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("fixtures/registry.sh"))
            .arg("start")
            .arg(dir.path());
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).unwrap();
            cmd.env("REGISTRY_HTPASSWD", &file);
        }
        let out = cmd.output().expect("run fixtures/registry.sh");
        assert!(
            out.status.success(),
            "registry start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Registry { dir, addr }
    }

    /// Pushes fixture `name` as `oci2wasm/NAME:latest` with extra `skopeo copy` arguments.
    pub fn push(&self, name: &str, extra: &[&str]) -> String {
        fixture(name);
        let status = Command::new("bash")
            .arg(repo_root().join("fixtures/registry.sh"))
            .args(["push".as_ref(), self.dir.path().as_os_str(), name.as_ref()])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run fixtures/registry.sh push");
        assert!(status.success(), "push {name}");
        format!("docker://{}/oci2wasm/{name}:latest", self.addr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("fixtures/registry.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Writes minimal OCI layouts by hand, so tests can make them wrong in exactly one way.
pub struct LayoutWriter {
    pub dir: PathBuf,
}

impl LayoutWriter {
    pub fn new(dir: &Path) -> LayoutWriter {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        LayoutWriter {
            dir: dir.to_path_buf(),
        }
    }

    /// Stores a blob and returns its digest.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        std::fs::write(self.blob_path(&digest), bytes).unwrap();
        digest
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// A config for `arch` with the given layers' bytes (their diff_ids are not checked here).
    pub fn config(&self, arch: &str) -> (String, usize) {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": []}
        });
        let bytes = serde_json::to_vec(&config).unwrap();
        (self.blob(&bytes), bytes.len())
    }

    /// An image manifest over gzip layers (given as stored bytes); returns (digest, size).
    pub fn manifest(&self, arch: &str, layers: &[Vec<u8>]) -> (String, usize) {
        let (config, config_size) = self.config(arch);
        let layers: Vec<_> = layers
            .iter()
            .map(|l| {
                serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": self.blob(l), "size": l.len()})
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config, "size": config_size},
            "layers": layers
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        (self.blob(&bytes), bytes.len())
    }

    /// Writes index.json naming one manifest as tag `latest`, with an optional platform.
    pub fn index(&self, media_type: &str, digest: &str, size: usize, platform: Option<&str>) {
        let mut entry = serde_json::json!({"mediaType": media_type, "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "latest"}});
        if let Some(arch) = platform {
            entry["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        }
        let index = serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    /// A one-manifest layout over `layers`.
    pub fn image(dir: &Path, layers: &[Vec<u8>]) -> LayoutWriter {
        let w = LayoutWriter::new(dir);
        let (digest, size) = w.manifest("amd64", layers);
        w.index(
            "application/vnd.oci.image.manifest.v1+json",
            &digest,
            size,
            None,
        );
        w
    }

    /// `oci:DIR:latest`.
    pub fn reference(&self) -> String {
        format!("oci:{}:latest", self.dir.display())
    }
}

/// A tar entry for [`gzip_tar`].
pub enum Entry<'a> {
    File(&'a [u8], &'a [u8]),
    Dir(&'a [u8]),
    Symlink(&'a [u8], &'a [u8]),
}

/// A gzip-compressed tar of `entries`. Names are written into the header verbatim, so they may
/// hold `..` (which `tar::Builder::append_data` refuses).
pub fn gzip_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_old();
        let (name, data, kind, link): (&[u8], &[u8], _, &[u8]) = match entry {
            Entry::File(n, d) => (n, d, tar::EntryType::Regular, b""),
            Entry::Dir(n) => (n, b"", tar::EntryType::Directory, b""),
            Entry::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, t),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}
