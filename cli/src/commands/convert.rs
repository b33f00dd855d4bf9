//! `oci2wasm convert IMAGE -o OUT/`: the image as a WASI 0.2 component (`OUT/NAME.wasm`) and its
//! `OUT/topology.json` (schema in compose/TOPOLOGY.md).
//!
//! Everything is computed in memory first (fetch, entrypoint check, pack, compose, componentize);
//! only then are files written, each under a temporary name and renamed into place. When OUT does
//! not exist yet it is built as a temporary directory beside it and renamed as a whole, so a
//! failed conversion leaves nothing behind.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use oci2wasm_compose::entry::Entry;
use oci2wasm_compose::topology::{ImageInfo, Sources};
use oci2wasm_compose::{RunConfig, Topology, module};
use oci2wasm_fetch::ImageRef;
use oci2wasm_fetch::spec::ImageConfiguration;
use vfs_pack::tree::Tree;

use crate::image_args::{ConfigOverrides, ImageArgs};
use crate::lifting::{LiftArgs, LiftMode};
use crate::output::human_bytes;

/// Convert a Linux x86-64 container image into a WebAssembly component.
///
/// Writes OUT/NAME.wasm, a WASI 0.2 component exporting wasi:cli/run with the image's filesystem,
/// Entrypoint, Cmd, Env and WorkingDir built in, and OUT/topology.json, which describes it (ports,
/// volumes, labels, ...). NAME comes from the image's repository or directory name unless --name
/// is given. The image's entrypoint must resolve (through PATH, symlinks and #! scripts) to an
/// x86-64 ELF program, or the image is refused.
///
/// Run the result with `oci2wasm run OUT/NAME.wasm [-- ARGS]` (compiled code is cached) or with
/// stock `wasmtime run OUT/NAME.wasm [ARGS]`; ARGS replace the image's Cmd, as with `docker run`.
///
/// Examples:
///   oci2wasm convert oci:fixtures/out/busybox/oci:latest -o out/
///   oci2wasm convert docker://127.0.0.1:5000/library/nginx:1.25 -o out/ --name web
///   oci2wasm convert docker-archive:app.tar -o out/ --heap-size 256
///   oci2wasm convert dir:rootfs -o out/ --cmd /usr/local/bin/app
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,

    #[command(flatten)]
    overrides: ConfigOverrides,

    #[command(flatten)]
    lift: LiftArgs,

    /// Directory to write NAME.wasm and topology.json into (created if missing).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,

    /// File name of the component, without `.wasm` [default: from the image reference].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// The runtime's heap, in MiB: room for its own allocations, not for the guest's memory.
    #[arg(long, value_name = "MIB", default_value_t = oci2wasm_compose::DEFAULT_HEAP_SIZE >> 20)]
    heap_size: u32,

    /// Use this runtime module instead of the built-in libc-shim.wasm (for runtime development).
    #[arg(long, value_name = "FILE")]
    runtime: Option<PathBuf>,
}

/// Generic directory names that say nothing about the image (`.../busybox/oci` -> `busybox`).
const GENERIC_DIRS: [&str; 5] = ["oci", "image", "layout", "rootfs", "."];

/// Keeps `[A-Za-z0-9._-]`, replaces the rest with `-`.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_start_matches(['.', '-']).to_string();
    if s.is_empty() { "image".into() } else { s }
}

fn file_name(path: &Path, strip_ext: bool) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut path = path.as_path();
    loop {
        let name = if strip_ext {
            path.file_stem()
        } else {
            path.file_name()
        };
        let name = name
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match path.parent() {
            Some(parent) if GENERIC_DIRS.contains(&name.as_str()) || name.is_empty() => {
                path = parent
            }
            _ => return name,
        }
    }
}

/// `repo` and `repo-tag` (unless the tag is `latest`).
fn with_tag(repo: &str, tag: Option<&str>) -> String {
    let base = repo.rsplit('/').next().unwrap_or(repo);
    match tag {
        Some(tag) if tag != "latest" => format!("{base}-{tag}"),
        _ => base.to_string(),
    }
}

/// The component's name derived from the image reference.
fn default_name(reference: &ImageRef) -> String {
    sanitize(&match reference {
        ImageRef::Registry(r) => with_tag(r.repository(), r.tag()),
        ImageRef::OciLayout { dir, tag } => with_tag(&file_name(dir, false), tag.as_deref()),
        ImageRef::DockerArchive { tag: Some(t), .. } => {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "latest"));
            with_tag(repo, Some(tag))
        }
        ImageRef::DockerArchive { file, tag: None } => file_name(file, true),
        ImageRef::Dir(dir) => file_name(dir, false),
    })
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let quiet = args.image.quiet;
    let say = |msg: String| {
        if !quiet {
            eprintln!("{msg}");
        }
    };
    let name = match &args.name {
        Some(n) if sanitize(n) != *n || n.ends_with(".wasm") => {
            bail!("--name {n:?}: use letters, digits, '.', '_' and '-' only, without .wasm")
        }
        Some(n) => n.clone(),
        None => default_name(&ImageRef::parse(&args.image.image)?),
    };
    let runtime = match &args.runtime {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => oci2wasm_compose::RUNTIME_WASM.to_vec(),
    };
    let heap_size = args
        .heap_size
        .checked_mul(1 << 20)
        .context("--heap-size is larger than 4 GiB")?;

    let step = Instant::now();
    let mut image = args.image.fetch()?;
    args.overrides.apply(&mut image.config);
    say(format!(
        "fetched {} ({} layers, {:.1} s)",
        args.image.image,
        image.layers.len(),
        step.elapsed().as_secs_f64()
    ));
    let context = || format!("cannot convert {}", args.image.image);
    let oci2wasm_fetch::Image {
        config,
        manifest_digest,
        rootfs,
        ..
    } = image;
    let Composed {
        component,
        run_config,
        entry,
    } = compose_image(
        &config, rootfs, &runtime, heap_size, &args.lift, &context, &say,
    )?;

    let file = format!("{name}.wasm");
    let topology = Topology::new(
        Sources {
            component_file: file.clone(),
            component_digest: oci2wasm_compose::sha256_digest(&component),
            component_size: component.len() as u64,
            image: ImageInfo {
                reference: args.image.image.clone(),
                manifest_digest: manifest_digest.as_ref().map(|d| d.to_string()),
                os: config.os().to_string(),
                architecture: config.architecture().to_string(),
            },
        },
        &run_config,
        &entry,
    );
    write_outputs(
        &args.output,
        &[(&file, &component), ("topology.json", &topology.to_json())],
    )?;
    say(format!(
        "wrote {} and topology.json in {} ({:.1} s)",
        args.output.join(&file).display(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// What [`compose_image`] made.
#[derive(Debug)]
pub struct Composed {
    pub component: Vec<u8>,
    pub run_config: RunConfig,
    pub entry: Entry,
}

/// The in-memory part of `convert` after the fetch: checks the entrypoint, packs `rootfs` (freed
/// as soon as it is packed), composes it with `runtime` and componentizes. `context` names the
/// image in errors; `say` reports each step.
pub fn compose_image(
    config: &ImageConfiguration,
    rootfs: Tree,
    runtime: &[u8],
    heap_size: u32,
    lift: &LiftArgs,
    context: &dyn Fn() -> String,
    say: &dyn Fn(String),
) -> Result<Composed> {
    let run_config = RunConfig::from_image(config);
    let entry = oci2wasm_compose::entry::resolve(&rootfs, &run_config).with_context(context)?;
    let info = module::inspect_runtime(runtime).with_context(context)?;
    if !info.has_start {
        bail!(
            "{}: the runtime module has no _start yet (libc-shim/libc-shim.wasm was built before the runtime's entry point existed; rebuild it with libc-shim/build-wasm.sh)",
            context()
        );
    }
    say(format!(
        "entrypoint {} -> {} ({:?}, {:?})",
        entry.command, entry.elf_path, entry.elf.kind, entry.elf.linking
    ));

    let step = Instant::now();
    let mut fs = Vec::new();
    let stats = vfs_pack::write(&rootfs, &mut fs).with_context(context)?;
    say(format!(
        "packed {} inodes, {} of files into a {} filesystem image ({:.1} s)",
        stats.inodes,
        human_bytes(stats.file_bytes),
        human_bytes(fs.len() as u64),
        step.elapsed().as_secs_f64()
    ));
    let config_bytes = run_config.encode();
    let step = Instant::now();
    let link = match oci2wasm_compose::plan_link(runtime, fs.len(), config_bytes.len(), heap_size) {
        Ok(link) => Some(link),
        // A runtime without the lifted-code exports (an older or a stand-in one) still runs
        // the image, interpreted; only an explicit --lift insists.
        Err(e)
            if lift.lift == LiftMode::Auto && e.kind() == oci2wasm_compose::ErrorKind::Runtime =>
        {
            say(format!("note: not lifting: {}", e.message()));
            None
        }
        Err(e) => return Err(e).with_context(context),
    };
    let lifted = match &link {
        Some(link) => {
            crate::lifting::lift(&rootfs, &entry.elf_path, lift, link, say).with_context(context)?
        }
        None => Vec::new(),
    };
    drop(rootfs);
    if !lifted.is_empty() {
        say(format!(
            "lifted {} program(s) ({:.1} s)",
            lifted.len(),
            step.elapsed().as_secs_f64()
        ));
    }
    let step = Instant::now();
    let core = oci2wasm_compose::compose_core_lifted(
        runtime,
        &fs,
        &config_bytes,
        heap_size,
        &oci2wasm_compose::Lifted {
            link,
            elfs: &lifted,
        },
    )
    .with_context(context)?;
    drop(fs);
    drop(lifted);
    let (core_size, guest_base) = (core.bytes.len(), core.layout.guest_base);
    let component = oci2wasm_compose::componentize(core.bytes).with_context(context)?;
    say(format!(
        "composed a {} core module (guest memory from {:#x}) into a {} component ({:.1} s)",
        human_bytes(core_size as u64),
        guest_base,
        human_bytes(component.len() as u64),
        step.elapsed().as_secs_f64()
    ));
    Ok(Composed {
        component,
        run_config,
        entry,
    })
}

/// Writes `files` into `dir`: into a fresh temporary directory renamed to `dir` when `dir` does not
/// exist, else each file under a temporary name renamed over the old one.
fn write_outputs(dir: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let write = |target: &Path| -> Result<()> {
        for (name, bytes) in files {
            let mut tmp = tempfile::Builder::new()
                .prefix(".oci2wasm-convert-")
                .tempfile_in(target)
                .with_context(|| format!("cannot create a file in {}", target.display()))?;
            // Readable by all, as a plain create would be (temporary files start as 0600).
            std::io::Write::write_all(&mut tmp, bytes)
                .and_then(|()| tmp.as_file().set_permissions(Permissions::from_mode(0o644)))
                .and_then(|()| tmp.as_file().sync_all())
                .with_context(|| format!("cannot write {}", target.join(name).display()))?;
            tmp.persist(target.join(name))
                .with_context(|| format!("cannot write {}", target.join(name).display()))?;
        }
        Ok(())
    };
    if dir.is_dir() {
        return write(dir);
    }
    if dir.exists() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".oci2wasm-convert-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    write(tmp.path())?;
    std::fs::set_permissions(tmp.path(), Permissions::from_mode(0o755))?;
    std::fs::rename(tmp.path(), dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Renamed away: nothing left for the guard to remove.
    let _ = tmp.keep();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_reference() {
        let name = |r: &str| default_name(&ImageRef::parse(r).unwrap());
        assert_eq!(name("oci:fixtures/out/busybox/oci:latest"), "busybox");
        assert_eq!(name("oci:/tmp/app:v2"), "app-v2");
        assert_eq!(
            name("docker://127.0.0.1:5000/library/nginx:1.25"),
            "nginx-1.25"
        );
        assert_eq!(name("docker://127.0.0.1:5000/library/nginx"), "nginx");
        assert_eq!(name("docker-archive:/tmp/x/app.tar"), "app");
        assert_eq!(name("docker-archive:/tmp/x/app.tar:my/web:1"), "web-1");
        assert_eq!(name("dir:/srv/rootfs"), "srv");
        assert_eq!(sanitize("..a b/c"), "a-b-c");
        assert_eq!(sanitize("///"), "image");
    }
}
