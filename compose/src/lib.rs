//! Composing a converted image: the oci2wasm runtime (libc-shim, prebuilt as wasm32 and embedded
//! here as [`RUNTIME_WASM`]), the image's packed filesystem and its run configuration become one
//! core module, then a WASI 0.2 component exporting `wasi:cli/run`, plus `topology.json`.
//!
//! ```text
//! Tree ──vfs_pack::write──► fs bytes ─┐
//! ImageConfiguration ──RunConfig──────┼─► module::build (data segments + Layout) ─► core module
//! RUNTIME_WASM ───────────────────────┘        ─► componentize (p1 command adapter) ─► component
//! ```
//!
//! Where each piece lands is decided by [`module::plan`] and written into the runtime's exported
//! `OCI2WASM_LAYOUT` (the contract in `libc_shim::layout`). Lifted code (from `oci2wasm-lift`)
//! is appended by [`compose_core_lifted`], with the [`Link`] from [`plan_link`] (see
//! [`lifted`]). Before any of that, [`entry::resolve`]
//! checks that the image's entrypoint is an x86-64 program, so an image that cannot run is refused
//! with a clear message instead of failing at run time.
//!
//! ```no_run
//! # fn main() -> Result<(), oci2wasm_compose::Error> {
//! # let (tree, image_config) = (vfs_pack::tree::Tree::new(), oci_spec::image::ImageConfiguration::default());
//! let composed = oci2wasm_compose::compose(&tree, &image_config, &oci2wasm_compose::Options::default())?;
//! std::fs::write("app.wasm", &composed.component)?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod entry;
mod error;
pub mod lifted;
pub mod module;
#[doc(hidden)]
pub mod standin;
pub mod topology;
pub mod wit;

use libc_shim::layout::Layout;
use oci_spec::image::ImageConfiguration;
use sha2::{Digest as _, Sha256};
use vfs_pack::tree::Tree;

pub use config::RunConfig;
pub use entry::Entry;
pub use error::{Error, ErrorKind, Result};
pub use lifted::lift_link;
pub use module::RuntimeInfo;
pub use oci2wasm_lift::link::{LiftedElf, Link};
pub use topology::Topology;

/// The runtime module, `libc-shim/libc-shim.wasm` (empty if it was not built when this crate was).
pub const RUNTIME_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libc-shim.wasm"));

/// The runtime's heap arena when not set: 64 MiB.
pub const DEFAULT_HEAP_SIZE: u32 = 64 << 20;

/// How to compose.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes of runtime heap after `__heap_base` (rounded up to 64 KiB).
    pub heap_size: u32,
    /// The runtime module; [`RUNTIME_WASM`] unless replaced (tests, runtime development).
    pub runtime: Vec<u8>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            heap_size: DEFAULT_HEAP_SIZE,
            runtime: RUNTIME_WASM.to_vec(),
        }
    }
}

/// A composed image.
#[derive(Debug)]
pub struct Composed {
    /// The WASI 0.2 component.
    pub component: Vec<u8>,
    /// Size of the core module inside it.
    pub core_size: usize,
    /// Where the runtime finds the pieces.
    pub layout: Layout,
    pub run_config: RunConfig,
    pub entry: Entry,
    pub fs_stats: vfs_pack::WriteStats,
}

/// A core module: the runtime with the filesystem, config and layout in its data.
#[derive(Debug)]
pub struct CoreModule {
    pub bytes: Vec<u8>,
    pub layout: Layout,
    pub runtime: RuntimeInfo,
}

/// Places `fs` and the encoded `config` into `runtime_wasm` (see [`module`]).
pub fn compose_core(
    runtime_wasm: &[u8],
    fs: &[u8],
    config: &[u8],
    heap_size: u32,
) -> Result<CoreModule> {
    let no_code = Lifted {
        link: None,
        elfs: &[],
    };
    compose_core_lifted(runtime_wasm, fs, config, heap_size, &no_code)
}

/// Lifted code to compose, and the [`Link`] it was lifted with.
#[derive(Clone, Copy, Debug)]
pub struct Lifted<'a> {
    /// From [`plan_link`] (required when `elfs` has functions).
    pub link: Option<Link>,
    /// In the order their functions are numbered (`LiftedElf::funcs` of ELF `k` follow ELF
    /// `k - 1`'s).
    pub elfs: &'a [LiftedElf],
}

/// The [`Link`] for code lifted into a module composed from `runtime_wasm` with a filesystem
/// and config of these sizes and this heap: the same [`module::plan`] that
/// [`compose_core_lifted`] makes, so lifted code and the module agree on `guest_base`.
///
/// The flow for lifted code: pack the filesystem and encode the config; `plan_link`; lift each
/// ELF with the link (ELF `k` with `first` = the functions of ELFs before it); then
/// [`compose_core_lifted`] with the same bytes, heap size and link.
pub fn plan_link(
    runtime_wasm: &[u8],
    fs_len: usize,
    config_len: usize,
    heap_size: u32,
) -> Result<Link> {
    let runtime = module::inspect_runtime(runtime_wasm)?;
    let layout = module::plan(&runtime, heap_size, fs_len, config_len)?;
    lift_link(runtime_wasm, layout.guest_base)
}

/// [`compose_core`] plus lifted code: the functions appended to the runtime and put in its
/// table, the lifted-code map (each ELF identified by the inode of its path in `fs`) placed at
/// the top of the heap reservation (see [`lifted`]). Fails if `lifted.link` is not what
/// [`plan_link`] gives for these inputs.
pub fn compose_core_lifted(
    runtime_wasm: &[u8],
    fs: &[u8],
    config: &[u8],
    heap_size: u32,
    lifted: &Lifted<'_>,
) -> Result<CoreModule> {
    let runtime = module::inspect_runtime(runtime_wasm)?;
    let mut layout = module::plan(&runtime, heap_size, fs.len(), config.len())?;
    let (addition, map) = match lifted.link {
        Some(link) => {
            let addition =
                lifted::Addition::new(runtime_wasm, layout.guest_base, &link, lifted.elfs)?;
            let map = match addition {
                Some(_) => lifted::encode_map(lifted.elfs, &link, fs)?,
                None => Vec::new(),
            };
            (addition, map)
        }
        None if lifted.elfs.iter().any(|e| !e.funcs.is_empty()) => {
            return Err(Error::new(
                ErrorKind::Encode,
                "lifted code without the link it was lifted with",
            ));
        }
        None => (None, Vec::new()),
    };
    module::place_map(&mut layout, &runtime, map.len())?;
    let bytes = module::build_with(
        runtime_wasm,
        &runtime,
        &layout,
        fs,
        config,
        addition.as_ref(),
        &map,
    )?;
    Ok(CoreModule {
        bytes,
        layout,
        runtime,
    })
}

/// Wraps a core module that imports WASI preview 1 and exports `_start` into a WASI 0.2 component
/// exporting `wasi:cli/run`, with the p1 command adapter from wasmtime 48.
pub fn componentize(mut core: Vec<u8>) -> Result<Vec<u8>> {
    wit::add_metadata(&mut core)?;
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    };
    let encode_error = |e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Encode,
            format!("cannot make the component: {e:#}"),
        )
    };
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&core)
        .map_err(|e| encode_error(&e))?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .map_err(|e| encode_error(&e))?
        .encode()
        .map_err(|e| encode_error(&e))
}

/// Checks the entrypoint, packs `tree`, composes the core module and makes the component.
pub fn compose(
    tree: &Tree,
    image_config: &ImageConfiguration,
    options: &Options,
) -> Result<Composed> {
    let run_config = RunConfig::from_image(image_config);
    let entry = entry::resolve(tree, &run_config)?;
    let runtime = module::inspect_runtime(&options.runtime)?;
    if !runtime.has_start {
        return Err(Error::new(
            ErrorKind::Runtime,
            "the runtime module has no _start (the built libc-shim predates its process entry point): rebuild it with libc-shim/build-wasm.sh",
        ));
    }
    let mut fs = Vec::new();
    let fs_stats = vfs_pack::write(tree, &mut fs)?;
    let core = compose_core(
        &options.runtime,
        &fs,
        &run_config.encode(),
        options.heap_size,
    )?;
    drop(fs);
    let core_size = core.bytes.len();
    let component = componentize(core.bytes)?;
    Ok(Composed {
        component,
        core_size,
        layout: core.layout,
        run_config,
        entry,
        fs_stats,
    })
}

/// `sha256:HEX` of `bytes`, as `topology.json` records digests.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests;
