//! Lifted code composed into the real runtime (`libc-shim/libc-shim.wasm`): the module
//! validates, the functions are in table 0 where the map says, and the map names the packed
//! inode.

use libc_shim::cpu::offset;
use libc_shim::layout::{ConfigTag, push_config_record};
use libc_shim::lifted::map::Map;
use oci2wasm_lift::link::{EXIT_CONTINUE, LiftedElf, Link, MapEntry, RFLAGS_EXPORT, STEP_EXPORT};
use vfs_pack::tree::{Node, Tree};
use wasm_encoder::{Function, Instruction as I, MemArg};
use wasmparser::{ElementItems, ElementKind, Operator, Parser, Payload};

use super::*;
use crate::{Lifted, RUNTIME_WASM, compose_core_lifted, plan_link};

const HEAP: u32 = 4 << 20;

/// A body's bytes as the code section holds them (without the size prefix).
fn body(f: &Function) -> Vec<u8> {
    let mut bytes = Vec::new();
    f.encode(&mut bytes);
    let mut reader = wasmparser::BinaryReader::new(&bytes, 0);
    reader.read_var_u32().unwrap();
    bytes[reader.original_position()..].to_vec()
}

/// Function 0 sets `cpu.rip` and continues; function 1 runs one instruction through the
/// runtime's step helper, counts it as lifted and returns the helper's exit.
fn fake_elf(link: &Link, path: &str, entries: Vec<MapEntry>) -> LiftedElf {
    let mem = |offset| MemArg {
        offset,
        align: 3,
        memory_index: 0,
    };
    let mut set_rip = Function::new([]);
    set_rip
        .instruction(&I::LocalGet(0))
        .instruction(&I::I64Const(0x40_1234))
        .instruction(&I::I64Store(mem(offset::RIP as u64)))
        .instruction(&I::I32Const(EXIT_CONTINUE))
        .instruction(&I::End);
    let mut step = Function::new([]);
    step.instruction(&I::LocalGet(0))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I64Load(mem(offset::LIFTED as u64)))
        .instruction(&I::I64Const(1))
        .instruction(&I::I64Add)
        .instruction(&I::I64Store(mem(offset::LIFTED as u64)))
        .instruction(&I::LocalGet(0))
        .instruction(&I::Call(link.step_func))
        .instruction(&I::End);
    LiftedElf {
        path: path.to_string(),
        bias: 0,
        funcs: vec![body(&set_rip), body(&step)],
        entries,
        ..LiftedElf::default()
    }
}

/// A packed image with `/bin/prog` holding `data`.
fn image(data: Vec<u8>) -> Vec<u8> {
    image_at("/bin/prog", data)
}

fn image_at(path: &str, data: Vec<u8>) -> Vec<u8> {
    let mut tree = Tree::new();
    crate::entry::tests::add(&mut tree, path, Node::File(data), 0o755);
    let mut fs = Vec::new();
    vfs_pack::write(&tree, &mut fs).unwrap();
    fs
}

fn entry(addr: u64, func: u32) -> MapEntry {
    MapEntry {
        addr,
        func,
        block: 0,
    }
}

/// Table 0's limits, the last element segment (offset, functions), and each active data
/// segment (offset, bytes).
type Parts = ((u64, Option<u64>), (u32, Vec<u32>), Vec<(u32, Vec<u8>)>);

fn parts(wasm: &[u8]) -> Parts {
    let (mut table, mut elem, mut data) = ((0, None), (0, Vec::new()), Vec::new());
    let offset = |e: &wasmparser::ConstExpr<'_>| match e.get_operators_reader().read().unwrap() {
        Operator::I32Const { value } => value as u32,
        other => panic!("offset {other:?}"),
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            Payload::TableSection(r) => {
                let t = r.into_iter().next().unwrap().unwrap().ty;
                table = (t.initial, t.maximum);
            }
            Payload::ElementSection(r) => {
                for e in r {
                    let e = e.unwrap();
                    let ElementKind::Active { offset_expr, .. } = e.kind else {
                        continue;
                    };
                    let ElementItems::Functions(f) = e.items else {
                        panic!("expressions")
                    };
                    elem = (
                        offset(&offset_expr),
                        f.into_iter().map(Result::unwrap).collect(),
                    );
                }
            }
            Payload::DataSection(r) => {
                for d in r {
                    let d = d.unwrap();
                    if let wasmparser::DataKind::Active { offset_expr, .. } = d.kind {
                        data.push((offset(&offset_expr), d.data.to_vec()));
                    }
                }
            }
            _ => {}
        }
    }
    (table, elem, data)
}

#[test]
fn the_real_runtime_links() {
    let link = lift_link(RUNTIME_WASM, 0x100_0000).unwrap();
    assert_eq!(link.guest_base, 0x100_0000);
    assert!(link.table_base > 0);
    assert!(link.step_func < link.first_func && link.rflags_func < link.first_func);
    let err = lift_link(&crate::standin::runtime(true), 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
}

#[test]
fn lifted_functions_land_in_table_0_where_the_map_says() {
    let fs = image(b"\x7fELF not really".to_vec());
    let mut config = Vec::new();
    push_config_record(&mut config, ConfigTag::Entrypoint, b"/bin/prog");
    let link = plan_link(RUNTIME_WASM, fs.len(), config.len(), HEAP).unwrap();
    let elfs = [
        fake_elf(
            &link,
            "/bin/prog",
            vec![entry(0x40_1000, 0), entry(0x40_1010, 1)],
        ),
        fake_elf(&link, "bin/prog", vec![entry(0x40_2000, 1)]),
    ];
    let lifted = Lifted {
        link: Some(link),
        elfs: &elfs,
    };
    let core = compose_core_lifted(RUNTIME_WASM, &fs, &config, HEAP, &lifted).unwrap();
    let plain = crate::compose_core(RUNTIME_WASM, &fs, &config, HEAP).unwrap();
    let l = core.layout;
    assert_eq!(l.guest_base, plain.layout.guest_base);
    assert_eq!((l.map_offset, l.heap_end), (l.map_offset, l.map_offset));
    assert!(l.map_offset + l.map_len <= plain.layout.heap_end);
    assert!(l.map_offset >= core.runtime.heap_base);

    let (table, elem, data) = parts(&core.bytes);
    let (plain_table, _, plain_data) = parts(&plain.bytes);
    assert_eq!(table.0, plain_table.0 + 4);
    assert_eq!(table.1, plain_table.1.map(|m| m + 4));
    assert_eq!(link.table_base as u64, plain_table.0);
    let f = link.first_func;
    assert_eq!(elem, (link.table_base, vec![f, f + 1, f + 2, f + 3]));
    assert_eq!(data.len(), plain_data.len() + 1);
    let map_bytes = &data.iter().find(|(o, _)| *o == l.map_offset).unwrap().1;
    assert_eq!(map_bytes.len(), l.map_len as usize);
    let map = Map::parse(map_bytes).unwrap();
    let ino = vfs_pack::Image::parse(&fs)
        .unwrap()
        .resolve(
            &vfs_pack::Image::parse(&fs).unwrap().root(),
            b"/bin/prog",
            true,
        )
        .unwrap()
        .ino();
    let got: Vec<_> = map
        .elfs()
        .map(|e| {
            (
                e.ino,
                e.bias,
                (0..e.len()).map(|i| e.entry(i)).collect::<Vec<_>>(),
            )
        })
        .collect();
    let t = link.table_base;
    let e = |addr, table| libc_shim::lifted::map::Entry {
        addr,
        table,
        block: 0,
    };
    assert_eq!(
        got,
        [
            (ino, 0, vec![e(0x40_1000, t), e(0x40_1010, t + 1)]),
            (ino, 0, vec![e(0x40_2000, t + 3)]),
        ]
    );
    assert_eq!(libc_shim::lifted::EXIT_CONTINUE, EXIT_CONTINUE);
    assert_eq!(
        libc_shim::lifted::EXIT_STOPPED,
        oci2wasm_lift::link::EXIT_STOPPED
    );
}

#[test]
fn mismatches_are_refused() {
    let fs = image(Vec::new());
    let link = plan_link(RUNTIME_WASM, fs.len(), 0, HEAP).unwrap();
    let compose = |link, elfs: &[LiftedElf]| {
        compose_core_lifted(RUNTIME_WASM, &fs, &[], HEAP, &Lifted { link, elfs })
            .err()
            .map(|e| e.kind())
    };
    let good = fake_elf(&link, "/bin/prog", vec![entry(0x1000, 0)]);
    let moved = Link {
        guest_base: link.guest_base + 0x10000,
        ..link
    };
    assert_eq!(
        compose(Some(moved), std::slice::from_ref(&good)),
        Some(ErrorKind::Encode)
    );
    assert_eq!(
        compose(None, std::slice::from_ref(&good)),
        Some(ErrorKind::Encode)
    );
    let missing = LiftedElf {
        path: "/bin/nothing".into(),
        ..good.clone()
    };
    assert_eq!(compose(Some(link), &[missing]), Some(ErrorKind::Encode));
    let bad_func = LiftedElf {
        entries: vec![entry(0x1000, 2)],
        ..good
    };
    assert_eq!(compose(Some(link), &[bad_func]), Some(ErrorKind::Encode));
    // A map that would eat the heap.
    let runtime = crate::module::inspect_runtime(RUNTIME_WASM).unwrap();
    let mut layout = crate::module::plan(&runtime, HEAP, 0, 0).unwrap();
    let err = crate::module::place_map(&mut layout, &runtime, HEAP as usize).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
}

/// A manual end-to-end check: `/bin/busybox` of the host with a "lifted" function that steps one
/// instruction through the runtime at its entry point and at every address listed (hex lines)
/// in `$OCI2WASM_LIFTED_DEMO_MISSES`, composed into `$OCI2WASM_LIFTED_DEMO_OUT`; run it with
/// `wasmtime run --env OCI2WASM_STATS=1 OUT echo hi`.
#[test]
#[ignore]
fn demo_component_with_step_functions() {
    let out = std::env::var("OCI2WASM_LIFTED_DEMO_OUT").expect("OCI2WASM_LIFTED_DEMO_OUT");
    let exe = std::fs::read("/bin/busybox").unwrap();
    let entry_point = u64::from_le_bytes(exe[24..32].try_into().unwrap());
    let mut addrs = vec![entry_point];
    if let Ok(path) = std::env::var("OCI2WASM_LIFTED_DEMO_MISSES") {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            addrs.push(u64::from_str_radix(line.trim_start_matches("0x"), 16).unwrap());
        }
    }
    addrs.sort();
    addrs.dedup();
    let fs = image_at("/bin/busybox", exe);
    let mut config = Vec::new();
    push_config_record(&mut config, ConfigTag::Entrypoint, b"/bin/busybox");
    let heap = crate::DEFAULT_HEAP_SIZE;
    let link = plan_link(RUNTIME_WASM, fs.len(), config.len(), heap).unwrap();
    let elf = fake_elf(
        &link,
        "/bin/busybox",
        addrs.iter().map(|&a| entry(a, 1)).collect(),
    );
    let lifted = Lifted {
        link: Some(link),
        elfs: &[elf],
    };
    let core = if std::env::var_os("OCI2WASM_LIFTED_DEMO_PLAIN").is_some() {
        crate::compose_core(RUNTIME_WASM, &fs, &config, heap).unwrap()
    } else {
        compose_core_lifted(RUNTIME_WASM, &fs, &config, heap, &lifted).unwrap()
    };
    std::fs::write(out, crate::componentize(core.bytes).unwrap()).unwrap();
}

/// A minimal runtime with the two exports, a one-slot table, no element or data section and
/// no `(i32, i32, i32) -> i32` type: the addition must create the type and the element section.
fn bare_runtime() -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ConstExpr, ExportKind, ExportSection, FunctionSection, GlobalSection,
        GlobalType, MemorySection, MemoryType, Module, RefType, TableSection, TableType,
        TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I64]);
    let mut functions = FunctionSection::new();
    functions.function(0).function(1);
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 1,
        maximum: Some(1),
        shared: false,
    });
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 2,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    let constant = GlobalType {
        val_type: ValType::I32,
        mutable: false,
        shared: false,
    };
    globals.global(constant, &ConstExpr::i32_const(1024));
    globals.global(constant, &ConstExpr::i32_const(2 * 65536));
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export(STEP_EXPORT, ExportKind::Func, 0)
        .export(RFLAGS_EXPORT, ExportKind::Func, 1)
        .export("OCI2WASM_LAYOUT", ExportKind::Global, 0)
        .export("__heap_base", ExportKind::Global, 1);
    let mut code = CodeSection::new();
    let mut step = Function::new([]);
    step.instruction(&I::I32Const(EXIT_CONTINUE))
        .instruction(&I::End);
    let mut rflags = Function::new([]);
    rflags.instruction(&I::I64Const(2)).instruction(&I::End);
    code.function(&step).function(&rflags);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&tables)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code);
    module.finish()
}

#[test]
fn a_missing_type_and_element_section_are_added() {
    let runtime = bare_runtime();
    let fs = image(Vec::new());
    let link = plan_link(&runtime, fs.len(), 0, HEAP).unwrap();
    assert_eq!((link.sig_type, link.first_func, link.table_base), (2, 2, 1));
    assert_eq!((link.step_func, link.rflags_func), (0, 1));
    let elfs = [fake_elf(&link, "/bin/prog", vec![entry(0x1000, 1)])];
    let lifted = Lifted {
        link: Some(link),
        elfs: &elfs,
    };
    let core = compose_core_lifted(&runtime, &fs, &[], HEAP, &lifted).unwrap();
    let (table, elem, data) = parts(&core.bytes);
    assert_eq!(table, (3, Some(3)));
    assert_eq!(elem, (1, vec![2, 3]));
    assert!(data.iter().any(|(o, _)| *o == core.layout.map_offset));
}
