//! `topology.json`: what a converted image is and how it expects to be run, for tools that deploy
//! the component (schema `oci2wasm/topology/v1`, documented in `compose/TOPOLOGY.md`).
//!
//! The file is deterministic (sorted maps, no timestamps) so that converting the same image twice
//! gives the same bytes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::RunConfig;
use crate::entry::Entry;

/// The schema identifier written as `"schema"`.
pub const SCHEMA: &str = "oci2wasm/topology/v1";

/// The root object of `topology.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Topology {
    pub schema: &'static str,
    /// The version of oci2wasm that wrote the file.
    pub generator: String,
    pub component: ComponentInfo,
    pub image: ImageInfo,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub program: ProgramInfo,
}

/// The component file beside `topology.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentInfo {
    /// File name, relative to the directory holding `topology.json`.
    pub file: String,
    /// `sha256:HEX` of the component's bytes.
    pub digest: String,
    pub size: u64,
    /// The WASI world it targets.
    pub world: &'static str,
}

/// Where the image came from.
#[derive(Clone, Debug, Serialize)]
pub struct ImageInfo {
    /// The reference as given to `convert`.
    pub reference: String,
    /// `sha256:HEX` of the image manifest, when the source has one.
    pub manifest_digest: Option<String>,
    pub os: String,
    pub architecture: String,
}

/// The program the image's entrypoint resolves to.
#[derive(Clone, Debug, Serialize)]
pub struct ProgramInfo {
    /// Absolute path in the image where the command was found.
    pub path: String,
    /// The ELF that runs (differs from `path` for `#!` scripts).
    pub elf: String,
    /// `static`, `static-pie` or `dynamic`.
    pub linking: String,
    /// The dynamic loader, for dynamically linked programs.
    pub interpreter: Option<String>,
}

/// Everything [`Topology::new`] needs besides the run config and the entry.
#[derive(Clone, Debug)]
pub struct Sources {
    pub component_file: String,
    pub component_digest: String,
    pub component_size: u64,
    pub image: ImageInfo,
}

impl Topology {
    pub fn new(sources: Sources, config: &RunConfig, entry: &Entry) -> Topology {
        let linking = serde_json::to_value(entry.elf.linking)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Topology {
            schema: SCHEMA,
            generator: format!("oci2wasm {}", env!("CARGO_PKG_VERSION")),
            component: ComponentInfo {
                file: sources.component_file,
                digest: sources.component_digest,
                size: sources.component_size,
                world: "wasi:cli/command@0.2",
            },
            image: sources.image,
            entrypoint: config.entrypoint.clone(),
            cmd: config.cmd.clone(),
            env: config.env.clone(),
            workdir: config.workdir.clone(),
            user: config.user.clone(),
            exposed_ports: config.exposed_ports.clone(),
            volumes: config.volumes.clone(),
            labels: config.labels.clone(),
            stop_signal: config.stop_signal.clone(),
            program: ProgramInfo {
                path: entry.path.clone(),
                elf: entry.elf_path.clone(),
                linking,
                interpreter: entry.elf.interpreter.clone(),
            },
        }
    }

    /// Pretty-printed JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a Topology always serializes");
        out.push(b'\n');
        out
    }
}
