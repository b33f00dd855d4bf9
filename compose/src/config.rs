//! The image's run configuration: what the component does when started with no arguments.
//!
//! [`RunConfig`] is the part of the OCI image config that decides how the container starts
//! (Entrypoint, Cmd, Env, WorkingDir, User) plus what `topology.json` reports (ports, volumes,
//! labels, stop signal). [`RunConfig::encode`] writes the runtime's record format
//! (`libc_shim::layout::push_config_record`); the runtime resolves the program itself, as
//! `docker run` would, and [`crate::entry`] checks at compose time that it will find one.

use std::collections::BTreeMap;

use libc_shim::layout::{ConfigTag, push_config_record};
use oci_spec::image::ImageConfiguration;

/// Docker's default `PATH`, used when the image's Env has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the image starts, and what it declares about its surroundings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=VALUE` strings in image order.
    pub env: Vec<String>,
    /// Absolute working directory; `/` when the image names none.
    pub workdir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty for root.
    pub user: String,
    /// `PORT/PROTO`, sorted.
    pub exposed_ports: Vec<String>,
    /// Absolute paths, sorted.
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
}

impl RunConfig {
    /// Extracts the run configuration from an image config.
    pub fn from_image(image: &ImageConfiguration) -> RunConfig {
        let Some(config) = image.config() else {
            return RunConfig {
                workdir: "/".into(),
                ..RunConfig::default()
            };
        };
        let sorted = |v: &Option<Vec<String>>| {
            let mut v = v.clone().unwrap_or_default();
            v.sort();
            v.dedup();
            v
        };
        let workdir = config.working_dir().clone().unwrap_or_default();
        RunConfig {
            entrypoint: config.entrypoint().clone().unwrap_or_default(),
            cmd: config.cmd().clone().unwrap_or_default(),
            env: config.env().clone().unwrap_or_default(),
            workdir: if workdir.is_empty() {
                "/".into()
            } else {
                workdir
            },
            user: config.user().clone().unwrap_or_default(),
            exposed_ports: sorted(config.exposed_ports()),
            volumes: sorted(config.volumes()),
            labels: config
                .labels()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stop_signal: config.stop_signal().clone(),
        }
    }

    /// The command line the container runs with no arguments: Entrypoint followed by Cmd.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }

    /// The value of `KEY` in Env (the last one wins, as for `docker run`).
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// The `PATH` programs are searched in.
    pub fn path(&self) -> &str {
        self.env_var("PATH").unwrap_or(DEFAULT_PATH)
    }

    /// The records the runtime reads (`libc_shim::layout::config_records`), in a fixed order:
    /// entrypoint elements, cmd elements, env, working directory, user.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for arg in &self.entrypoint {
            push_config_record(&mut out, ConfigTag::Entrypoint, arg.as_bytes());
        }
        for arg in &self.cmd {
            push_config_record(&mut out, ConfigTag::Cmd, arg.as_bytes());
        }
        for kv in &self.env {
            push_config_record(&mut out, ConfigTag::Env, kv.as_bytes());
        }
        push_config_record(&mut out, ConfigTag::WorkingDir, self.workdir.as_bytes());
        if !self.user.is_empty() {
            push_config_record(&mut out, ConfigTag::User, self.user.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc_shim::layout::config_records;

    fn image(json: &str) -> ImageConfiguration {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn extracts_and_encodes_the_run_config() {
        let config = RunConfig::from_image(&image(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
            "config":{"Entrypoint":["/bin/busybox"],"Cmd":["sh","-c","echo hi"],
            "Env":["PATH=/bin","A=1","A=2"],"User":"1000:1000",
            "ExposedPorts":{"8080/tcp":{},"53/udp":{}},"Volumes":{"/data":{}},
            "Labels":{"b":"2","a":"1"},"StopSignal":"SIGQUIT"}}"#,
        ));
        assert_eq!(config.argv(), ["/bin/busybox", "sh", "-c", "echo hi"]);
        assert_eq!(config.path(), "/bin");
        assert_eq!(config.env_var("A"), Some("2"));
        assert_eq!(config.workdir, "/");
        assert_eq!(config.exposed_ports, ["53/udp", "8080/tcp"]);
        assert_eq!(config.volumes, ["/data"]);
        assert_eq!(config.labels.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(config.stop_signal.as_deref(), Some("SIGQUIT"));

        let encoded = config.encode();
        assert_eq!(encoded.len() % 4, 0);
        let records: Vec<_> = config_records(&encoded).collect();
        assert_eq!(records[0], (ConfigTag::Entrypoint, &b"/bin/busybox"[..]));
        assert_eq!(records[1], (ConfigTag::Cmd, &b"sh"[..]));
        assert_eq!(records[3], (ConfigTag::Cmd, &b"echo hi"[..]));
        assert_eq!(records[4], (ConfigTag::Env, &b"PATH=/bin"[..]));
        assert_eq!(records[7], (ConfigTag::WorkingDir, &b"/"[..]));
        assert_eq!(records[8], (ConfigTag::User, &b"1000:1000"[..]));
        assert_eq!(records.len(), 9);
    }

    #[test]
    fn an_image_without_config_runs_nothing_from_root() {
        let config = RunConfig::from_image(&image(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        ));
        assert!(config.argv().is_empty());
        assert_eq!(config.workdir, "/");
        assert_eq!(config.path(), DEFAULT_PATH);
    }
}
