//! Composition against the stand-in runtime ([`crate::standin`]): the segments land where the
//! layout says, the module validates, the component encodes.

use libc_shim::layout::{Layout, MAGIC, config_records};
use vfs_pack::tree::{Node, Tree};
use wasmparser::{DataKind, Operator, Parser, Payload};

use crate::entry::tests::{add, elf_header};
use crate::module::{GUEST_SLACK_PAGES, MAX_PAGES, WASM_PAGE};
use crate::standin::{self, HEAP_BASE, LAYOUT_ADDR};
use crate::*;

/// Memory 0's (initial, maximum) pages.
type Limits = (u64, Option<u64>);

/// Every active data segment as (offset, bytes), in order, and memory 0's limits.
fn segments(wasm: &[u8]) -> (Vec<(u32, Vec<u8>)>, Limits) {
    let (mut out, mut limits) = (Vec::new(), (0, None));
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.unwrap();
                    let DataKind::Active { offset_expr, .. } = data.kind else {
                        panic!("passive segment")
                    };
                    let Operator::I32Const { value } =
                        offset_expr.get_operators_reader().read().unwrap()
                    else {
                        panic!("non-constant offset")
                    };
                    out.push((value as u32, data.data.to_vec()));
                }
            }
            Payload::MemorySection(reader) => {
                let m = reader.into_iter().next().unwrap().unwrap();
                limits = (m.initial, m.maximum);
            }
            _ => {}
        }
    }
    (out, limits)
}

#[test]
fn segments_land_where_the_layout_says() {
    let runtime = standin::runtime(true);
    let fs: Vec<u8> = (0..3 * 4096 + 5).map(|i| i as u8).collect();
    let config = b"config records".to_vec();
    let heap = 1 << 20;
    let core = compose_core(&runtime, &fs, &config, heap).unwrap();
    let l = core.layout;
    assert_eq!((l.magic, l.version), (MAGIC, libc_shim::layout::VERSION));
    assert_eq!(
        l.heap_end as u64,
        (HEAP_BASE as u64 + heap as u64).div_ceil(WASM_PAGE) * WASM_PAGE
    );
    assert_eq!(l.fs_offset % 4096, 0);
    assert!(l.fs_offset >= l.heap_end);
    assert_eq!(l.fs_len as usize, fs.len());
    assert!(l.config_offset >= l.fs_offset + l.fs_len);
    assert_eq!(l.config_len as usize, config.len());
    assert_eq!(l.guest_base as u64 % WASM_PAGE, 0);
    assert!(l.guest_base >= l.config_offset + l.config_len);

    let (segs, limits) = segments(&core.bytes);
    assert_eq!(
        limits,
        (
            l.guest_base as u64 / WASM_PAGE + GUEST_SLACK_PAGES,
            Some(MAX_PAGES)
        )
    );
    // The runtime's own segment first, then ours, the layout last.
    assert_eq!(segs.len(), 4);
    assert_eq!(segs[0], (LAYOUT_ADDR, vec![0; 32]));
    assert_eq!(segs[1], (l.fs_offset, fs));
    assert_eq!(segs[2], (l.config_offset, config));
    assert_eq!(segs[3], (LAYOUT_ADDR, l.to_bytes().to_vec()));
    module::validate_core(&core.bytes).unwrap();
}

#[test]
fn runtime_contract_is_checked() {
    let info = module::inspect_runtime(&standin::runtime(false)).unwrap();
    assert_eq!((info.layout_addr, info.heap_base), (LAYOUT_ADDR, HEAP_BASE));
    assert!(!info.has_start && !info.has_realloc);
    assert_eq!(
        module::inspect_runtime(&[]).unwrap_err().kind(),
        ErrorKind::Runtime
    );
    let bare = wasm_encoder::Module::new().finish();
    let err = module::inspect_runtime(&bare).unwrap_err();
    assert!(err.message().contains("no memory"), "{err}");
}

#[test]
fn too_much_data_is_refused() {
    let info = module::inspect_runtime(&standin::runtime(true)).unwrap();
    let err = module::plan(&info, 64 << 20, 3 << 30, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    let layout: Layout = module::plan(&info, 64 << 20, (3 << 30) - (128 << 20), 0).unwrap();
    assert!(layout.guest_base <= 3 << 30);
}

#[test]
fn composes_an_image_into_a_valid_component() {
    let mut tree = Tree::new();
    add(&mut tree, "/bin/prog", Node::File(elf_header(62)), 0o755);
    let image: oci_spec::image::ImageConfiguration = serde_json::from_str(
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
        "config":{"Entrypoint":["prog"],"Cmd":["--flag"],"Env":["PATH=/bin"],"WorkingDir":"/tmp"}}"#,
    )
    .unwrap();
    let options = Options {
        runtime: standin::runtime(true),
        heap_size: 1 << 20,
    };
    let composed = compose(&tree, &image, &options).unwrap();
    assert_eq!(composed.entry.path, "/bin/prog");
    let records: Vec<_> = config_records(&composed.run_config.encode())
        .map(|(_, v)| String::from_utf8(v.to_vec()).unwrap())
        .collect();
    assert_eq!(records, ["prog", "--flag", "PATH=/bin", "/tmp"]);
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator.validate_all(&composed.component).unwrap();
    assert!(wasmparser::Parser::is_component(&composed.component));
    let text = String::from_utf8_lossy(&composed.component);
    assert!(text.contains("wasi:cli/run@0.2"), "exports wasi:cli/run");

    // Without _start there is nothing to run: refused before any work.
    let options = Options {
        runtime: standin::runtime(false),
        ..options
    };
    let err = compose(&tree, &image, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Runtime);
}

#[test]
fn composing_is_deterministic() {
    let runtime = standin::runtime(true);
    let a = compose_core(&runtime, b"fs", b"cfg", 1 << 20).unwrap();
    let b = compose_core(&runtime, b"fs", b"cfg", 1 << 20).unwrap();
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(
        componentize(a.bytes).unwrap(),
        componentize(b.bytes).unwrap()
    );
}
