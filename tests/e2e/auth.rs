//! Registry credentials from the Docker client config: basic auth with the right password pulls,
//! no credentials or a wrong password is one clear "refused access" error.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::support::{Registry, oci2wasm};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

/// Writes a Docker `config.json` with base64 `user:password` for `registry` into `dir`.
fn docker_config(dir: &Path, registry: &str, user: &str, password: &str) {
    let auth = STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({"auths": {registry: {"auth": auth}}});
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
}

#[test]
fn basic_auth_from_the_docker_config() {
    let registry = Registry::start_with_auth(USER, PASSWORD);
    let image = registry.push("busybox", &["--dest-creds", &format!("{USER}:{PASSWORD}")]);
    let work = tempfile::tempdir().unwrap();
    let inspect = |config_dir: &Path, cache: &str| {
        oci2wasm(&work.path().join(cache))
            .env("DOCKER_CONFIG", config_dir)
            .args(["inspect", &image])
            .output()
            .unwrap()
    };

    let good = work.path().join("good");
    docker_config(&good, &registry.addr, USER, PASSWORD);
    let out = inspect(&good, "c1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/bin/busybox"));

    let wrong = work.path().join("wrong");
    docker_config(&wrong, &registry.addr, USER, "not-the-password");
    for config_dir in [wrong, work.path().join("no-config-here")] {
        let out = inspect(&config_dir, "c2");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("registry {} refused access", registry.addr)),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
