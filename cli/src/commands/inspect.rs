//! `oci2wasm inspect IMAGE`: what an image is made of, before converting it.
//!
//! Shows the runtime config, the layers, the size of the filesystem and every ELF file (programs
//! and libraries) with what the converter needs to know about it. `--files` adds every path;
//! `--json` prints the same report as one JSON document (schema version 1).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use anyhow::Result;
use oci2wasm_fetch::{Image, LayerInfo};
use oci2wasm_lift::elf::{self, ElfInfo, ElfKind, Linking};
use serde::Serialize;
use vfs_pack::tree::Node;

use crate::image_args::ImageArgs;
use crate::output::human_bytes;

/// Show an image's config, layers, files and ELF executables.
///
/// Examples:
///   oci2wasm inspect oci:fixtures/out/busybox/oci:latest
///   oci2wasm inspect --json docker://127.0.0.1:5000/oci2wasm/busybox:latest | jq .elfs
///   oci2wasm inspect --files docker-archive:busybox.tar | grep ' /etc/'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,

    /// Also list every path with its type, mode and size.
    #[arg(long)]
    files: bool,

    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The runtime config, as `docker inspect` names it.
#[derive(Debug, Serialize)]
struct ConfigSummary {
    os: String,
    architecture: String,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Vec<String>,
    working_dir: Option<String>,
    user: Option<String>,
    exposed_ports: Vec<String>,
    volumes: Vec<String>,
    labels: BTreeMap<String, String>,
    stop_signal: Option<String>,
}

#[derive(Debug, Serialize)]
struct FileStats {
    /// Distinct inodes (hard links count once).
    inodes: u64,
    /// Bytes in regular files.
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct ElfEntry {
    path: String,
    #[serde(flatten)]
    info: ElfInfo,
}

#[derive(Debug, Serialize)]
struct PathEntry {
    path: String,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: String,
    uid: u32,
    gid: u32,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    schema_version: u32,
    image: String,
    manifest_digest: Option<String>,
    config: ConfigSummary,
    layers: Vec<LayerInfo>,
    files: FileStats,
    elfs: Vec<ElfEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paths: Option<Vec<PathEntry>>,
}

fn summarize_config(image: &Image) -> ConfigSummary {
    let c = image.config.config().clone().unwrap_or_default();
    let mut ports = c.exposed_ports().clone().unwrap_or_default();
    ports.sort();
    let mut volumes = c.volumes().clone().unwrap_or_default();
    volumes.sort();
    ConfigSummary {
        os: image.config.os().to_string(),
        architecture: image.config.architecture().to_string(),
        entrypoint: c.entrypoint().clone(),
        cmd: c.cmd().clone(),
        env: c.env().clone().unwrap_or_default(),
        working_dir: c.working_dir().clone().filter(|w| !w.is_empty()),
        user: c.user().clone().filter(|u| !u.is_empty()),
        exposed_ports: ports,
        volumes,
        labels: c.labels().clone().unwrap_or_default().into_iter().collect(),
        stop_signal: c.stop_signal().clone(),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn build_report(image: &Image, with_paths: bool) -> Report {
    let tree = &image.rootfs;
    let (inodes, bytes) = tree.usage();
    let mut seen = HashSet::new();
    let mut elfs = Vec::new();
    let mut paths = Vec::new();
    for (path, id) in tree.walk() {
        let inode = tree.get(id);
        if let Node::File(data) = &inode.node
            && seen.insert(id)
            && elf::is_elf(data)
        {
            // A file with the ELF magic that does not parse is reported, not fatal.
            if let Ok(info) = elf::analyze(data) {
                elfs.push(ElfEntry {
                    path: lossy(&path),
                    info,
                });
            }
        }
        if with_paths {
            let (size, target) = match &inode.node {
                Node::File(data) => (data.len() as u64, None),
                Node::Symlink(t) => (t.len() as u64, Some(lossy(t))),
                _ => (0, None),
            };
            paths.push(PathEntry {
                path: lossy(&path),
                kind: inode.node.kind_name(),
                mode: format!("{:04o}", inode.meta.mode),
                uid: inode.meta.uid,
                gid: inode.meta.gid,
                size,
                target,
            });
        }
    }
    Report {
        schema_version: 1,
        image: image.reference.to_string(),
        manifest_digest: image.manifest_digest.as_ref().map(|d| d.to_string()),
        config: summarize_config(image),
        layers: image.layers.clone(),
        files: FileStats { inodes, bytes },
        elfs,
        paths: with_paths.then_some(paths),
    }
}

pub fn run(args: Args) -> Result<()> {
    let image = args.image.fetch()?;
    let report = build_report(&image, args.files);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_text(&mut out, &report)?;
    }
    out.flush()?;
    Ok(())
}

fn describe_elf(info: &ElfInfo) -> String {
    let kind = match info.kind {
        ElfKind::Executable => "executable",
        ElfKind::PieExecutable => "PIE executable",
        ElfKind::SharedObject => "shared object",
        ElfKind::Relocatable => "relocatable object",
        ElfKind::Other => "other ELF",
    };
    let linking = match info.linking {
        Linking::Static => "static".to_string(),
        Linking::StaticPie => "static-pie".to_string(),
        Linking::Dynamic => format!(
            "dynamic, interpreter {}",
            info.interpreter.as_deref().unwrap_or("?")
        ),
    };
    let mut text = format!("ELF{} {} {kind}, {linking}", info.class, info.machine_name);
    if let Some(addr) = info.fixed_address {
        text += &format!(", fixed address {addr:#x}");
    }
    text += &format!(
        ", entry {:#x}, {} code",
        info.entry,
        human_bytes(info.code_bytes)
    );
    if !info.needed.is_empty() {
        text += &format!(", needs {}", info.needed.join(" "));
    }
    text
}

fn print_text(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let list = |v: &Option<Vec<String>>| match v {
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "(none)".into(),
    };
    let c = &r.config;
    writeln!(out, "Image        {}", r.image)?;
    if let Some(d) = &r.manifest_digest {
        writeln!(out, "Manifest     {d}")?;
    }
    writeln!(out, "Platform     {}/{}", c.os, c.architecture)?;
    writeln!(out, "Entrypoint   {}", list(&c.entrypoint))?;
    writeln!(out, "Cmd          {}", list(&c.cmd))?;
    for (i, env) in c.env.iter().enumerate() {
        writeln!(
            out,
            "{}{env}",
            if i == 0 {
                "Env          "
            } else {
                "             "
            }
        )?;
    }
    writeln!(
        out,
        "WorkingDir   {}",
        c.working_dir.as_deref().unwrap_or("/")
    )?;
    writeln!(out, "User         {}", c.user.as_deref().unwrap_or("root"))?;
    writeln!(out, "ExposedPorts {}", c.exposed_ports.join(" "))?;
    writeln!(out, "Volumes      {}", c.volumes.join(" "))?;
    for (k, v) in &c.labels {
        writeln!(out, "Label        {k}={v}")?;
    }
    if let Some(s) = &c.stop_signal {
        writeln!(out, "StopSignal   {s}")?;
    }
    writeln!(out, "\nLayers ({})", r.layers.len())?;
    for l in &r.layers {
        writeln!(
            out,
            "  {}  {:>10}  {}",
            l.digest,
            human_bytes(l.size),
            l.media_type
        )?;
    }
    writeln!(
        out,
        "\nFiles        {} inodes, {}",
        r.files.inodes,
        human_bytes(r.files.bytes)
    )?;
    writeln!(out, "\nELF files ({})", r.elfs.len())?;
    for e in &r.elfs {
        writeln!(out, "  {}  {}", e.path, describe_elf(&e.info))?;
    }
    if let Some(paths) = &r.paths {
        writeln!(out, "\nPaths ({})", paths.len())?;
        for p in paths {
            write!(
                out,
                "  {:<8} {} {:>5}:{:<5} {:>10}  {}",
                p.kind, p.mode, p.uid, p.gid, p.size, p.path
            )?;
            match &p.target {
                Some(t) => writeln!(out, " -> {t}")?,
                None => writeln!(out)?,
            }
        }
    }
    Ok(())
}
