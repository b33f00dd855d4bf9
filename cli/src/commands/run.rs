//! `oci2wasm run OUT/NAME.wasm [-- ARGS]`: runs a converted image in the embedded wasmtime, like
//! `docker run` runs a container: stdio inherited, the guest's exit status as ours.
//!
//! What the guest sees (the runtime inside the component reads it):
//! - arguments `[NAME, ARGS...]`; ARGS, when given, replace the image's Cmd;
//! - environment: only what `--env` gives (the image's Env is built into the component and the
//!   runtime merges the two, `--env` winning), plus `OCI2WASM_ENTRYPOINT` for `--entrypoint P`:
//!   it replaces the image's Entrypoint and, as `docker run --entrypoint` does, drops its Cmd. The
//!   runtime splits the value on `\x1f` (libc-shim/src/start.rs); `P` is one element, an empty
//!   `P` clears the Entrypoint;
//! - `--mount HOST:GUEST[:ro]` as a WASI preopened directory named GUEST (read-only with `:ro`).
//!
//! Compiling a component with a large filesystem is slow and memory-hungry, instantiating a
//! precompiled one is not (its data is mapped copy-on-write), so compiled code is cached under
//! `$OCI2WASM_CACHE_DIR/compiled` (default `$XDG_CACHE_HOME/oci2wasm/compiled`), keyed by the
//! component's SHA-256 and the engine's compatibility hash (wasmtime version and settings).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod prune;

/// The environment variable carrying `--entrypoint` to the runtime.
pub const ENTRYPOINT_VAR: &str = "OCI2WASM_ENTRYPOINT";

/// Run a converted image (a component written by `oci2wasm convert`).
///
/// ARGS after `--` replace the image's Cmd. Compiled code is cached, so only the first run of a
/// component compiles it.
///
/// Examples:
///   oci2wasm run out/busybox.wasm
///   oci2wasm run out/busybox.wasm -- ls -l /
///   oci2wasm run out/busybox.wasm --entrypoint /bin/sh --env A=1 --mount ./data:/data:ro -- -c 'ls /data'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The component (OUT/NAME.wasm).
    #[arg(value_name = "COMPONENT")]
    component: PathBuf,

    /// Run this program instead of the image's Entrypoint (the image's Cmd is dropped too).
    #[arg(long, value_name = "PATH")]
    entrypoint: Option<String>,

    /// Set an environment variable (KEY=VALUE), over the image's Env. Repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,

    /// Make a host directory visible at GUEST (absolute path); `:ro` for read-only. Repeatable.
    #[arg(long = "mount", short = 'v', value_name = "HOST:GUEST[:ro]")]
    mounts: Vec<String>,

    /// Print how many instructions ran lifted and interpreted, and the most frequent
    /// interpreted entry points, when the guest exits (the guest variable OCI2WASM_STATS=1).
    #[arg(long)]
    stats: bool,

    /// Write the code addresses that ran in the interpreter to FILE (one hex address per
    /// line), for `convert --profile FILE` to lift them next time.
    #[arg(long, value_name = "FILE")]
    record_misses: Option<PathBuf>,

    /// Compiled-code cache directory [default: $XDG_CACHE_HOME/oci2wasm or ~/.cache/oci2wasm].
    #[arg(long, value_name = "DIR", env = "OCI2WASM_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Arguments for the program, replacing the image's Cmd.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

struct State {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A wasmtime result as an anyhow one, so that `.with_context` applies.
fn wt<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}

/// `HOST:GUEST[:ro|:rw]`.
fn parse_mount(spec: &str) -> Result<(PathBuf, String, FsPerms)> {
    let (rest, perms) = match spec.rsplit_once(':') {
        Some((rest, "ro")) => (rest, FsPerms::ReadOnly),
        Some((rest, "rw")) => (rest, FsPerms::ReadWrite),
        _ => (spec, FsPerms::ReadWrite),
    };
    let Some((host, guest)) = rest.rsplit_once(':') else {
        bail!("--mount {spec:?}: expected HOST:GUEST[:ro]");
    };
    if host.is_empty() || !guest.starts_with('/') {
        bail!("--mount {spec:?}: HOST must be given and GUEST must be an absolute path");
    }
    Ok((PathBuf::from(host), guest.to_string(), perms))
}

/// The cache root, as `ImageArgs` chooses it for blobs.
fn cache_root(arg: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = arg {
        return Some(dir.to_path_buf());
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let base = xdg.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("oci2wasm"))
}

/// A name for the component file as it is now: its absolute path, device, inode, size, mtime and
/// ctime. Any write changes the ctime (which no user can set back), so an unchanged stamp means
/// unchanged bytes, without reading them.
fn file_stamp(path: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let absolute = std::path::absolute(path)?;
    let stamp = format!(
        "{}\0{}:{}:{}:{}.{}:{}.{}",
        absolute.display(),
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    Ok(hex::encode(Sha256::digest(stamp.as_bytes())))
}

/// Deserializes compiled code this module wrote into the cache.
fn load_compiled(engine: &Engine, file: &Path) -> Option<Component> {
    // SAFETY: the file is compiled code that `load_component` wrote itself (renamed into place only
    // when complete) under a name derived from the component's content hash and the engine's
    // compatibility hash; wasmtime still checks its header and engine compatibility.
    unsafe { Component::deserialize_file(engine, file) }.ok()
}

/// Loads the component's compiled code from the cache, compiling and storing it on a miss.
///
/// The cache is `DIR/compiled/HASH-ENGINE.cwasm` (HASH: SHA-256 of the component; ENGINE: the
/// engine's compatibility hash) plus `DIR/compiled/stamps/STAMP` files naming the `.cwasm` of a
/// component file as it was when last run ([`file_stamp`]), so a cached run does not read or
/// hash the component (0.2 s for a 120 MiB one). The `.cwasm` files are kept under a size limit,
/// least recently used first out ([`prune`]).
fn load_component(engine: &Engine, path: &Path, cache: Option<&Path>) -> Result<Component> {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let engine_hash = format!("{:016x}", engine_hash.finish());
    let dir = cache.map(|c| c.join("compiled"));
    let stamp = match &dir {
        Some(dir) => Some(
            dir.join("stamps")
                .join(format!("{}-{engine_hash}", file_stamp(path)?)),
        ),
        None => None,
    };
    if let (Some(dir), Some(stamp)) = (&dir, &stamp)
        && let Ok(name) = std::fs::read_to_string(stamp)
        && let Some(component) = load_compiled(engine, &dir.join(name.trim()))
    {
        prune::touch(&dir.join(name.trim()));
        return Ok(component);
    }

    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !wasmparser::Parser::is_component(&bytes) {
        bail!("{} is not a WebAssembly component", path.display());
    }
    let (Some(dir), Some(stamp)) = (dir, stamp) else {
        return Ok(Component::new(engine, &bytes)?);
    };
    let name = format!(
        "{}-{engine_hash}.cwasm",
        hex::encode(Sha256::digest(&bytes))
    );
    let file = dir.join(&name);
    let remember = || {
        let _ = write_atomically(&stamp, name.as_bytes());
    };
    if let Some(component) = load_compiled(engine, &file) {
        prune::touch(&file);
        remember();
        return Ok(component);
    }
    let compiled = wt(engine.precompile_component(&bytes))
        .with_context(|| format!("cannot compile {}", path.display()))?;
    drop(bytes);
    if write_atomically(&file, &compiled).is_ok()
        && let Some(component) = load_compiled(engine, &file)
    {
        remember();
        prune::prune(&dir, &file, prune::limit());
        return Ok(component);
    }
    // A read-only cache must not stop the run.
    // SAFETY: `compiled` came from this engine's `precompile_component` just now.
    Ok(unsafe { Component::deserialize(engine, &compiled) }?)
}

/// Writes `bytes` to `path` under a temporary name renamed into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let guest = Guest {
        component: &args.component,
        entrypoint: args.entrypoint.as_deref(),
        env: &args.env,
        mounts: &args.mounts,
        cache_dir: args.cache_dir.as_deref(),
        args: &args.args,
        stats: args.stats,
        record_misses: args.record_misses.as_deref(),
    };
    let status = run_guest(&guest, |wasi| {
        wasi.inherit_stdio();
    })?;
    Ok(ExitCode::from(status))
}

/// One run of a component: what `oci2wasm run` takes from its command line.
#[derive(Clone, Copy, Debug)]
pub struct Guest<'a> {
    pub component: &'a Path,
    pub entrypoint: Option<&'a str>,
    /// `KEY=VALUE` strings.
    pub env: &'a [String],
    /// `HOST:GUEST[:ro]` strings.
    pub mounts: &'a [String],
    /// As `--cache-dir`: `None` for the default location.
    pub cache_dir: Option<&'a Path>,
    pub args: &'a [String],
    /// `--stats`.
    pub stats: bool,
    /// `--record-misses FILE`.
    pub record_misses: Option<&'a Path>,
}

/// Where `--record-misses` makes the host file's directory visible to the guest.
const MISSES_DIR: &str = "/.oci2wasm-record";

/// The guard region after the 4 GiB reservation of each linear memory: it must exceed the
/// largest `guest_base` so that offset-folded guest accesses need no bounds check.
const GUARD_SIZE: u64 = 2 << 30;

/// Runs `guest` in the embedded wasmtime and returns its exit status. `stdio` connects the
/// guest's stdin, stdout and stderr (`oci2wasm run` inherits ours; `verify` captures them).
pub fn run_guest(guest: &Guest<'_>, stdio: impl FnOnce(&mut WasiCtxBuilder)) -> Result<u8> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Lifted code addresses guest memory with `guest_base` (tens of MiB) folded into each
    // access's offset. A 4 GiB reservation plus a guard at least that large lets Cranelift drop
    // every bounds check (wasmtime's default 32 MiB guard would keep a compare and a Spectre
    // cmov on each guest load and store).
    config.memory_reservation(4 << 30);
    config.memory_guard_size(GUARD_SIZE);
    let engine = Engine::new(&config)?;
    let cache = cache_root(guest.cache_dir);
    let component = load_component(&engine, guest.component, cache.as_deref())?;

    let name = guest
        .component
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let mut wasi = WasiCtx::builder();
    stdio(&mut wasi);
    wasi.arg(&name).args(guest.args);
    for kv in guest.env {
        let Some((key, value)) = kv.split_once('=') else {
            bail!("--env {kv:?}: expected KEY=VALUE");
        };
        wasi.env(key, value);
    }
    if let Some(entrypoint) = guest.entrypoint {
        if entrypoint.contains('\x1f') {
            bail!("--entrypoint {entrypoint:?}: a program path cannot hold \\x1f");
        }
        wasi.env(ENTRYPOINT_VAR, entrypoint);
    }
    if guest.stats {
        wasi.env("OCI2WASM_STATS", "1");
    }
    if let Some(file) = guest.record_misses {
        let name = file
            .file_name()
            .with_context(|| format!("--record-misses {}: not a file name", file.display()))?;
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::write(file, b"")
            .with_context(|| format!("--record-misses: cannot create {}", file.display()))?;
        wt(wasi.preopened_dir(&dir, MISSES_DIR, FsPerms::ReadWrite))
            .with_context(|| format!("--record-misses: cannot open {}", dir.display()))?;
        wasi.env(
            "OCI2WASM_RECORD_MISSES",
            format!("{MISSES_DIR}/{}", name.to_string_lossy()),
        );
    }
    for spec in guest.mounts {
        let (host, guest_path, perms) = parse_mount(spec)?;
        wt(wasi.preopened_dir(&host, &guest_path, perms))
            .with_context(|| format!("--mount {spec}: cannot open {}", host.display()))?;
    }
    let mut store = Store::new(
        &engine,
        State {
            ctx: wasi.build(),
            table: ResourceTable::new(),
        },
    );
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let command = wt(Command::instantiate(&mut store, &component, &linker))
        .with_context(|| format!("cannot instantiate {}", guest.component.display()))?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(())) => Ok(1),
        Err(e) => {
            match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0 as u8),
                None => Err(anyhow::Error::from(e)
                    .context(format!("{} trapped", guest.component.display()))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse() {
        let (host, guest, perms) = parse_mount("./data:/data:ro").unwrap();
        assert_eq!((host, guest.as_str()), (PathBuf::from("./data"), "/data"));
        assert!(matches!(perms, FsPerms::ReadOnly));
        assert!(matches!(
            parse_mount("/a:/b").unwrap().2,
            FsPerms::ReadWrite
        ));
        assert!(parse_mount("/a").is_err());
        assert!(parse_mount("/a:rel").is_err());
    }
}
