//! Lifted code in the composed module: where it goes ([`lift_link`]), what is appended for it
//! ([`Addition`], used by `module::build`) and the map the runtime dispatches with
//! ([`encode_map`], the `libc_shim::lifted::map` format).
//!
//! Lifted functions are appended after the runtime's functions, so no existing index shifts:
//!
//! - their type is an existing `(i32, i32, i32) -> i32` type of the runtime (the one its
//!   `call_indirect` into lifted code uses) or one appended at the end of the type section;
//! - the function and code sections gain one entry per function (ELF `k`'s functions follow
//!   ELF `k - 1`'s: function index `first_func + offset_k + i`);
//! - table 0 grows by their number (minimum and maximum) and a new active element segment puts
//!   them at `table_base + offset_k + i`, which is how the runtime calls them;
//! - the map is one more data segment.
//!
//! Lifted code has `guest_base` built in, and the map is only known after lifting, so the map
//! does not take part in placing `guest_base`: it is carved from the top of the runtime's heap
//! reservation (`module::place_map`), and the heap gets what remains (at least half of it).

use libc_shim::lifted::map::{self, ElfMap, Entry};
use oci2wasm_lift::link::{LiftedElf, Link, RFLAGS_EXPORT, STEP_EXPORT};
use wasm_encoder::reencode::RoundtripReencoder;
use wasm_encoder::{ConstExpr, Encode, TableSection};
use wasmparser::{
    CompositeInnerType, ExternalKind, Parser, Payload, TableSectionReader, TypeRef, ValType,
};

use crate::error::{Error, ErrorKind, Result};

fn runtime_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Runtime, message)
}

/// A function type as (params, results).
type Sig = (Vec<ValType>, Vec<ValType>);

/// Where lifted functions go in a module composed from `runtime_wasm`, whose guest window starts
/// at `guest_base` (`module::plan`'s `Layout::guest_base`): what the lifter needs.
pub fn lift_link(runtime_wasm: &[u8], guest_base: u32) -> Result<Link> {
    let mut types: Vec<Option<Sig>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut table_base = None;
    let (mut step, mut rflags) = (None, None);
    for payload in Parser::new(0).parse_all(runtime_wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f)
                                if sub.is_final && sub.supertype_idx.is_none() =>
                            {
                                Some((f.params().to_vec(), f.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import?.ty {
                        TypeRef::Func(t) => func_types.push(t),
                        TypeRef::Table(_) => {
                            return Err(runtime_error(
                                "the runtime imports a table; lifted code needs its own table 0",
                            ));
                        }
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    func_types.push(t?);
                }
            }
            Payload::TableSection(reader) => {
                if let Some(first) = reader.into_iter().next() {
                    table_base = Some(first?.ty.initial);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    match (export.kind, export.name) {
                        (ExternalKind::Func, STEP_EXPORT) => step = Some(export.index),
                        (ExternalKind::Func, RFLAGS_EXPORT) => rflags = Some(export.index),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let i32s = |n| vec![ValType::I32; n];
    let lifted_sig: Sig = (i32s(3), i32s(1));
    let sig_type = types
        .iter()
        .position(|t| t.as_ref() == Some(&lifted_sig))
        .unwrap_or(types.len());
    let export = |name: &str, index: Option<u32>, want: Sig| -> Result<u32> {
        let index = index.ok_or_else(|| {
            runtime_error(format!(
                "the runtime does not export {name} (rebuild it with libc-shim/build-wasm.sh)"
            ))
        })?;
        let sig = func_types
            .get(index as usize)
            .and_then(|&t| types.get(t as usize).cloned().flatten());
        if sig != Some(want) {
            return Err(runtime_error(format!(
                "the runtime's {name} has the wrong signature"
            )));
        }
        Ok(index)
    };
    let step_func = export(STEP_EXPORT, step, (i32s(1), i32s(1)))?;
    let rflags_func = export(RFLAGS_EXPORT, rflags, (i32s(1), vec![ValType::I64]))?;
    let table_base = table_base
        .and_then(|t| u32::try_from(t).ok())
        .filter(|&t| t > 0)
        .ok_or_else(|| runtime_error("the runtime defines no function table 0"))?;
    let count = |n: usize| u32::try_from(n).map_err(|_| runtime_error("too many runtime items"));
    Ok(Link {
        first_func: count(func_types.len())?,
        sig_type: count(sig_type)?,
        step_func,
        rflags_func,
        table_base,
        guest_base,
    })
}

/// Total lifted functions, checked to fit the table and function index space.
fn function_count(lifted: &[LiftedElf]) -> Result<u32> {
    let n: usize = lifted.iter().map(|e| e.funcs.len()).sum();
    u32::try_from(n)
        .ok()
        .filter(|&n| n < 1 << 24)
        .ok_or_else(|| Error::new(ErrorKind::TooLarge, "too many lifted functions"))
}

/// The lifted-code map for `lifted` placed as `link` says, each ELF identified by the inode of
/// its path in the packed filesystem image `fs`. Empty when no ELF has entries.
pub fn encode_map(lifted: &[LiftedElf], link: &Link, fs: &[u8]) -> Result<Vec<u8>> {
    if lifted.iter().all(|e| e.entries.is_empty()) {
        return Ok(Vec::new());
    }
    let image = vfs_pack::Image::parse(fs).map_err(|e| {
        Error::new(
            ErrorKind::Encode,
            format!("cannot read the packed filesystem: {e}"),
        )
    })?;
    let mut elfs = Vec::with_capacity(lifted.len());
    let mut first = link.table_base;
    for elf in lifted {
        let inode = image
            .resolve(&image.root(), elf.path.as_bytes(), true)
            .ok()
            .filter(|i| i.kind() == vfs_pack::Kind::File)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Encode,
                    format!("lifted ELF {} is not a file of the image", elf.path),
                )
            })?;
        let entries = elf
            .entries
            .iter()
            .map(|e| {
                if e.func as usize >= elf.funcs.len() {
                    return Err(Error::new(
                        ErrorKind::Encode,
                        format!(
                            "lifted ELF {}: entry {:#x} names function {} of {}",
                            elf.path,
                            e.addr,
                            e.func,
                            elf.funcs.len()
                        ),
                    ));
                }
                Ok(Entry {
                    addr: e.addr,
                    table: first + e.func,
                    block: e.block,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        first += elf.funcs.len() as u32;
        elfs.push(ElfMap {
            ino: inode.ino(),
            bias: elf.bias,
            entries,
        });
    }
    map::encode(&elfs).map_err(|e| Error::new(ErrorKind::Encode, e.to_string()))
}

/// What `module::build` appends to the runtime's sections for lifted code.
#[derive(Debug)]
pub struct Addition<'a> {
    link: Link,
    /// Whether the lifted signature is a new type at the end of the type section.
    new_type: bool,
    bodies: Vec<&'a [u8]>,
}

/// `body` (a section's contents: a count, then items) with `more` items `extra` appended.
fn with_more(body: &[u8], more: u32, extra: &[u8]) -> Result<Vec<u8>> {
    let mut reader = wasmparser::BinaryReader::new(body, 0);
    let count = reader.read_var_u32()?;
    let rest = &body[reader.original_position()..];
    let mut out = Vec::with_capacity(body.len() + extra.len() + 5);
    (count + more).encode(&mut out);
    out.extend_from_slice(rest);
    out.extend_from_slice(extra);
    Ok(out)
}

impl<'a> Addition<'a> {
    /// The addition for `lifted` into `runtime_wasm` as `link` says; `None` when there are no
    /// lifted functions. Fails unless `link` is [`lift_link`] for `guest_base`.
    pub fn new(
        runtime_wasm: &[u8],
        guest_base: u32,
        link: &Link,
        lifted: &'a [LiftedElf],
    ) -> Result<Option<Self>> {
        if function_count(lifted)? == 0 {
            return Ok(None);
        }
        let expected = lift_link(runtime_wasm, guest_base)?;
        if expected != *link {
            return Err(Error::new(
                ErrorKind::Encode,
                format!("the code was lifted for {link:?}, but this runtime needs {expected:?}"),
            ));
        }
        let types = Parser::new(0)
            .parse_all(runtime_wasm)
            .find_map(|p| match p {
                Ok(Payload::TypeSection(r)) => Some(
                    r.into_iter()
                        .map(|g| g.map(|g| g.types().len()))
                        .sum::<Result<usize, _>>(),
                ),
                _ => None,
            })
            .transpose()?
            .unwrap_or(0);
        Ok(Some(Addition {
            link: *link,
            new_type: link.sig_type as usize == types,
            bodies: lifted
                .iter()
                .flat_map(|e| &e.funcs)
                .map(Vec::as_slice)
                .collect(),
        }))
    }

    fn count(&self) -> u32 {
        self.bodies.len() as u32
    }

    /// The type section's contents, with the lifted signature appended if it is new.
    pub fn types(&self, body: &[u8]) -> Result<Vec<u8>> {
        if !self.new_type {
            return Ok(body.to_vec());
        }
        let mut ty = vec![0x60]; // func
        oci2wasm_lift::link::SIG_PARAMS.as_slice().encode(&mut ty);
        oci2wasm_lift::link::SIG_RESULTS.as_slice().encode(&mut ty);
        with_more(body, 1, &ty)
    }

    /// The function section's contents, with the lifted functions' type indices appended.
    pub fn functions(&self, body: &[u8]) -> Result<Vec<u8>> {
        let mut extra = Vec::new();
        for _ in 0..self.count() {
            self.link.sig_type.encode(&mut extra);
        }
        with_more(body, self.count(), &extra)
    }

    /// The table section, table 0 grown to hold the lifted functions.
    pub fn tables(&self, reader: TableSectionReader<'_>) -> Result<TableSection> {
        let mut section = TableSection::new();
        for (i, table) in reader.into_iter().enumerate() {
            let mut table = table?;
            if i == 0 {
                let n = u64::from(self.count());
                table.ty.initial += n;
                table.ty.maximum = table.ty.maximum.map(|m| m + n);
            }
            wasm_encoder::reencode::utils::parse_table(
                &mut RoundtripReencoder,
                &mut section,
                table,
            )
            .map_err(|e| runtime_error(format!("cannot re-encode the runtime's table: {e}")))?;
        }
        Ok(section)
    }

    /// The element section's contents (`body`, or none yet), with an active segment putting the
    /// lifted functions at `table_base` of table 0.
    pub fn elements(&self, body: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut segment = vec![0x00]; // active, table 0, funcref, function indices
        ConstExpr::i32_const(self.link.table_base as i32).encode(&mut segment);
        self.count().encode(&mut segment);
        for i in 0..self.count() {
            (self.link.first_func + i).encode(&mut segment);
        }
        with_more(body.unwrap_or(&[0]), 1, &segment)
    }

    /// The code section's contents, with the lifted bodies appended.
    pub fn code(&self, body: &[u8]) -> Result<Vec<u8>> {
        let mut extra = Vec::with_capacity(self.bodies.iter().map(|b| b.len() + 5).sum());
        for b in &self.bodies {
            b.encode(&mut extra); // length-prefixed
        }
        with_more(body, self.count(), &extra)
    }
}

#[cfg(test)]
mod tests;
