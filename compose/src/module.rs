//! The core module: the runtime with the packed filesystem, the run configuration and the filled-in
//! [`Layout`] appended as active data segments, and its memory resized to cover them.
//!
//! Every runtime section except imports, memory, data count and data is copied byte for byte
//! (nothing is added that would shift an index); the data section keeps the runtime's own segments
//! and gains ours after them, the layout last so that it overwrites the runtime's zeroed default.
//! With lifted code ([`build_with`]), the type, function, table, element and code sections also
//! gain entries at their ends (see [`crate::lifted`]).
//!
//! Linear memory, low to high (see `libc_shim::layout`):
//!
//! ```text
//! 0 ── runtime stack and data ── __heap_base ── heap ── heap_end [── lifted-code map] ── fs_offset
//!   ── packed filesystem (4 KiB pages) ── run config ── guest_base (64 KiB-aligned) ── guest ...
//! ```
//!
//! `heap_size` reserves `[__heap_base, fs_offset)`; a lifted-code map takes the top of that
//! reservation ([`place_map`]) so that `guest_base` does not depend on it.
//!
//! The memory starts [`GUEST_SLACK_PAGES`] pages past `guest_base` and may grow to 4 GiB: the
//! runtime grows it as the guest maps memory, and the p1 adapter needs `memory.grow` to work.
//!
//! One import is rerouted: `wasi_snapshot_preview1.proc_exit` becomes
//! `wasi:cli/exit@0.2.12.exit-with-code` (the same core signature, `(param i32)`), because the p1
//! adapter reports every non-zero status as 1 and a container's exit status must survive (`exit 3`
//! is 3; Linux keeps the low 8 bits, as the canonical ABI's `u8` does).

use libc_shim::layout::{Layout, MAGIC, VERSION};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ConstExpr, DataCountSection, Encode, ImportSection, MemorySection, RawSection};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef, Validator, WasmFeatures};

use crate::error::{Error, ErrorKind, Result};
use crate::lifted::Addition;

/// The data section's id.
const DATA_SECTION: u8 = 11;
/// The element section's id.
const ELEMENT_SECTION: u8 = 9;

/// One Wasm page.
pub const WASM_PAGE: u64 = 64 * 1024;
/// The 4 GiB limit of a 32-bit memory, in pages.
pub const MAX_PAGES: u64 = 65536;
/// Pages of guest window the memory starts with (guest addresses `0..64 KiB`, which programs do
/// not map): where a p1 adapter without the runtime's `cabi_realloc` grows its state.
pub const GUEST_SLACK_PAGES: u64 = 1;

/// What the runtime module says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// Address of the exported `OCI2WASM_LAYOUT` static.
    pub layout_addr: u32,
    /// `__heap_base`: the end of the runtime's data and stack.
    pub heap_base: u32,
    /// The defined memory 0's initial size in pages.
    pub initial_pages: u64,
    /// Whether the runtime exports `_start` (needed to run) and `cabi_realloc`.
    pub has_start: bool,
    pub has_realloc: bool,
}

/// Reads the exports and memory that the layout contract needs.
pub fn inspect_runtime(wasm: &[u8]) -> Result<RuntimeInfo> {
    if wasm.is_empty() {
        return Err(Error::new(
            ErrorKind::Runtime,
            "the runtime module (libc-shim/libc-shim.wasm) has not been built: run libc-shim/build-wasm.sh",
        ));
    }
    let mut imported_globals = 0u32;
    let mut global_values: Vec<Option<u32>> = Vec::new();
    let mut global_exports: Vec<(String, u32)> = Vec::new();
    let (mut has_start, mut has_realloc) = (false, false);
    let mut memory = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import?.ty {
                        TypeRef::Global(_) => imported_globals += 1,
                        TypeRef::Memory(_) => {
                            return Err(Error::new(
                                ErrorKind::Runtime,
                                "the runtime imports its memory; it must define and export it",
                            ));
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(reader) => {
                if let Some(first) = reader.into_iter().next() {
                    memory = Some(first?);
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let mut ops = global?.init_expr.get_operators_reader();
                    global_values.push(match ops.read()? {
                        Operator::I32Const { value } => Some(value as u32),
                        _ => None,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    match export.kind {
                        ExternalKind::Global => {
                            global_exports.push((export.name.to_string(), export.index))
                        }
                        ExternalKind::Func if export.name == "_start" => has_start = true,
                        ExternalKind::Func if export.name == "cabi_realloc" => has_realloc = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let memory =
        memory.ok_or_else(|| Error::new(ErrorKind::Runtime, "the runtime defines no memory"))?;
    if memory.memory64 || memory.shared || memory.page_size_log2.is_some() {
        return Err(Error::new(
            ErrorKind::Runtime,
            "the runtime's memory must be a plain 32-bit memory with 64 KiB pages",
        ));
    }
    let global = |name: &str| -> Result<u32> {
        let (_, index) = global_exports
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Runtime,
                    format!("the runtime does not export {name}"),
                )
            })?;
        index
            .checked_sub(imported_globals)
            .and_then(|i| global_values.get(i as usize).copied().flatten())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Runtime,
                    format!("the runtime's {name} is not a constant address"),
                )
            })
    };
    Ok(RuntimeInfo {
        layout_addr: global("OCI2WASM_LAYOUT")?,
        heap_base: global("__heap_base")?,
        initial_pages: memory.initial,
        has_start,
        has_realloc,
    })
}

fn align_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align) * align
}

/// Places the heap, the filesystem, the config and the guest window.
pub fn plan(
    runtime: &RuntimeInfo,
    heap_size: u32,
    fs_len: usize,
    config_len: usize,
) -> Result<Layout> {
    let heap_end = align_up(
        u64::from(runtime.heap_base) + u64::from(heap_size),
        WASM_PAGE,
    );
    let fs_offset = heap_end;
    let config_offset = align_up(fs_offset + fs_len as u64, 8);
    let guest_base = align_up(config_offset + config_len as u64, WASM_PAGE);
    // The guest needs room too: at least 1 GiB of guest addresses must remain.
    let limit = MAX_PAGES * WASM_PAGE - (1 << 30);
    if guest_base > limit {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "the filesystem ({} MiB) and heap ({} MiB) leave less than 1 GiB of the 4 GiB memory for the guest",
                fs_len >> 20,
                heap_size >> 20
            ),
        ));
    }
    let as_u32 = |v: u64| u32::try_from(v).expect("below the checked 3 GiB limit");
    Ok(Layout {
        magic: MAGIC,
        version: VERSION,
        heap_end: as_u32(heap_end),
        fs_offset: as_u32(fs_offset),
        fs_len: as_u32(fs_len as u64),
        config_offset: as_u32(config_offset),
        config_len: as_u32(config_len as u64),
        guest_base: as_u32(guest_base),
        map_offset: 0,
        map_len: 0,
    })
}

/// Carves `map_len` bytes for the lifted-code map from the top of the heap reservation (so that
/// `guest_base`, which lifted code has built in, stays where [`plan`] put it); the heap must
/// keep at least half of its reservation.
pub fn place_map(layout: &mut Layout, runtime: &RuntimeInfo, map_len: usize) -> Result<()> {
    if map_len == 0 {
        return Ok(());
    }
    let (base, end) = (u64::from(runtime.heap_base), u64::from(layout.heap_end));
    let offset = end.checked_sub(map_len as u64).map(|o| o & !15);
    match offset {
        Some(offset) if offset >= base && offset - base >= (end - base) / 2 => {
            layout.heap_end = offset as u32;
            layout.map_offset = offset as u32;
            layout.map_len = map_len as u32;
            Ok(())
        }
        _ => Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "the lifted-code map ({} KiB) would take more than half of the runtime heap ({} KiB): compose with a larger heap",
                map_len >> 10,
                (end - base) >> 10
            ),
        )),
    }
}

/// The runtime with `fs`, `config` and `layout` placed as `layout` says.
pub fn build(
    runtime_wasm: &[u8],
    runtime: &RuntimeInfo,
    layout: &Layout,
    fs: &[u8],
    config: &[u8],
) -> Result<Vec<u8>> {
    build_with(runtime_wasm, runtime, layout, fs, config, None, &[])
}

/// [`build`], plus lifted functions (`addition`, see [`crate::lifted`]) and the lifted-code
/// `map` at `layout.map_offset`.
pub fn build_with(
    runtime_wasm: &[u8],
    runtime: &RuntimeInfo,
    layout: &Layout,
    fs: &[u8],
    config: &[u8],
    addition: Option<&Addition<'_>>,
    map: &[u8],
) -> Result<Vec<u8>> {
    let mut segments: Vec<(u32, &[u8])> = Vec::new();
    if !fs.is_empty() {
        segments.push((layout.fs_offset, fs));
    }
    if !config.is_empty() {
        segments.push((layout.config_offset, config));
    }
    if !map.is_empty() {
        segments.push((layout.map_offset, map));
    }
    if u64::from(runtime.layout_addr) + Layout::SIZE as u64 > u64::from(runtime.heap_base) {
        return Err(Error::new(
            ErrorKind::Runtime,
            "the runtime's OCI2WASM_LAYOUT is not below __heap_base",
        ));
    }
    let layout_bytes = layout.to_bytes();
    segments.push((runtime.layout_addr, &layout_bytes));
    let added = segments.len() as u32;

    let initial =
        (u64::from(layout.guest_base) / WASM_PAGE + GUEST_SLACK_PAGES).max(runtime.initial_pages);
    let has_data = Parser::new(0)
        .parse_all(runtime_wasm)
        .any(|p| matches!(p, Ok(Payload::DataSection(_))));
    let mut out = wasm_encoder::Module::new();
    let mut reencoder = RoundtripReencoder;
    let mut after_code = false;
    let mut elements_done = addition.is_none();
    // The data section is written by hand so that the filesystem is copied with `memcpy` (the
    // iterator-based `DataSection::active` copies byte by byte when this crate is unoptimized).
    let data_section = |count: u32, existing: &[u8]| {
        let extra: usize = segments.iter().map(|(_, b)| b.len() + 16).sum();
        let mut body = Vec::with_capacity(existing.len() + extra + 5);
        (count + added).encode(&mut body);
        body.extend_from_slice(existing);
        for (offset, bytes) in &segments {
            body.push(0x00); // active, memory 0
            ConstExpr::i32_const(*offset as i32).encode(&mut body);
            bytes.encode(&mut body); // length-prefixed
        }
        body
    };
    for payload in Parser::new(0).parse_all(runtime_wasm) {
        let payload = payload?;
        if after_code && !has_data && !matches!(payload, Payload::CodeSectionEntry(_)) {
            out.section(&RawSection {
                id: DATA_SECTION,
                data: &data_section(0, &[]),
            });
            after_code = false;
        }
        if let Some(add) = addition
            && !elements_done
            && matches!(
                payload,
                Payload::DataCountSection { .. } | Payload::CodeSectionStart { .. }
            )
        {
            out.section(&RawSection {
                id: ELEMENT_SECTION,
                data: &add.elements(None)?,
            });
            elements_done = true;
        }
        if let Some(add) = addition {
            let raw = |r: std::ops::Range<usize>| &runtime_wasm[r];
            let replaced = match &payload {
                Payload::TypeSection(r) => Some((1, add.types(raw(r.range()))?)),
                Payload::FunctionSection(r) => Some((3, add.functions(raw(r.range()))?)),
                Payload::ElementSection(r) => {
                    elements_done = true;
                    Some((ELEMENT_SECTION, add.elements(Some(raw(r.range())))?))
                }
                Payload::CodeSectionStart { range, .. } => {
                    after_code = true;
                    Some((10, add.code(raw(range.clone()))?))
                }
                Payload::TableSection(r) => {
                    out.section(&add.tables(r.clone())?);
                    continue;
                }
                _ => None,
            };
            if let Some((id, data)) = replaced {
                out.section(&RawSection { id, data: &data });
                continue;
            }
        }
        match payload {
            Payload::ImportSection(reader) => {
                let imports: Vec<_> = reader.into_imports().collect::<Result<_, _>>()?;
                let has_exit_with_code = imports
                    .iter()
                    .any(|i| (i.module, i.name) == (crate::wit::EXIT_MODULE, "exit-with-code"));
                let mut section = ImportSection::new();
                for import in imports {
                    let (module, name) = match (import.module, import.name) {
                        ("wasi_snapshot_preview1", "proc_exit") if !has_exit_with_code => {
                            (crate::wit::EXIT_MODULE, "exit-with-code")
                        }
                        other => other,
                    };
                    let ty = reencoder.entity_type(import.ty).map_err(reencode_error)?;
                    section.import(module, name, ty);
                }
                out.section(&section);
            }
            Payload::MemorySection(reader) => {
                let mut memories = MemorySection::new();
                for (i, memory) in reader.into_iter().enumerate() {
                    let mut ty = reencoder.memory_type(memory?).map_err(reencode_error)?;
                    if i == 0 {
                        ty.minimum = initial;
                        ty.maximum = Some(MAX_PAGES);
                    }
                    memories.memory(ty);
                }
                out.section(&memories);
            }
            Payload::DataCountSection { count, .. } => {
                out.section(&DataCountSection {
                    count: count + added,
                });
            }
            Payload::DataSection(reader) => {
                // The runtime's segments, byte for byte: everything after the count.
                let body = &runtime_wasm[reader.range()];
                let count_len = body.iter().position(|b| b & 0x80 == 0).map_or(0, |i| i + 1);
                out.section(&RawSection {
                    id: DATA_SECTION,
                    data: &data_section(reader.count(), &body[count_len..]),
                });
            }
            Payload::CodeSectionStart { range, .. } => {
                out.section(&RawSection {
                    id: 10,
                    data: &runtime_wasm[range],
                });
                after_code = true;
            }
            Payload::CodeSectionEntry(_) => {}
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &runtime_wasm[range],
                    });
                }
            }
        }
    }
    let bytes = out.finish();
    validate_core(&bytes)?;
    Ok(bytes)
}

fn reencode_error(e: wasm_encoder::reencode::Error) -> Error {
    Error::new(
        ErrorKind::Runtime,
        format!("cannot re-encode the runtime: {e}"),
    )
}

/// Validates a core module with every feature wasmtime enables by default.
pub fn validate_core(wasm: &[u8]) -> Result<()> {
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| {
            Error::new(
                ErrorKind::Encode,
                format!("the composed module is invalid: {e}"),
            )
        })
}
