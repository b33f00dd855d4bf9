//! A tiny stand-in for the runtime module, for tests of the composition pipeline that must not
//! depend on the real runtime: it keeps the layout contract (exports `memory`, `_start`,
//! `OCI2WASM_LAYOUT` and `__heap_base`) and, when run, proves the composed data is where the layout
//! says.
//!
//! Its `_start` exits with `proc_exit(99)` (status 1 through the p1 adapter) if the layout's magic
//! is wrong; otherwise it writes the first 8 bytes of the packed filesystem (the vfs-pack magic)
//! followed by the whole run configuration to stdout, then exits with [`EXIT_STATUS`] through
//! `wasi:cli/exit@0.2.12#exit-with-code`, as the runtime must for statuses other than 0 and 1
//! (the p1 adapter's `proc_exit` reports every non-zero status as 1).

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction as I, MemArg,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};

/// Where the stand-in keeps its `OCI2WASM_LAYOUT`.
pub const LAYOUT_ADDR: u32 = 1024;
/// The stand-in's `__heap_base`.
pub const HEAP_BASE: u32 = 2 * 65536;
/// The status `_start` exits with when the layout is right.
pub const EXIT_STATUS: i32 = 7;

fn load(offset: u64) -> I<'static> {
    I::I32Load(MemArg {
        offset,
        align: 2,
        memory_index: 0,
    })
}

fn store(offset: u64) -> I<'static> {
    I::I32Store(MemArg {
        offset,
        align: 2,
        memory_index: 0,
    })
}

/// The stand-in module's bytes. With `start`, it exports `_start`.
pub fn runtime(start: bool) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32; 4], [ValType::I32]); // 0: fd_write
    types.ty().function([ValType::I32], []); // 1: proc_exit
    types.ty().function([], []); // 2: _start
    let mut imports = ImportSection::new();
    imports.import(
        "wasi_snapshot_preview1",
        "fd_write",
        EntityType::Function(0),
    );
    imports.import(
        "wasi_snapshot_preview1",
        "proc_exit",
        EntityType::Function(1),
    );
    imports.import(
        crate::wit::EXIT_MODULE,
        "exit-with-code",
        EntityType::Function(1),
    );
    let mut functions = FunctionSection::new();
    functions.function(2);
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
    globals.global(
        GlobalType {
            mutable: true,
            ..constant
        },
        &ConstExpr::i32_const(65536),
    ); // __stack_pointer
    globals.global(constant, &ConstExpr::i32_const(LAYOUT_ADDR as i32));
    globals.global(constant, &ConstExpr::i32_const(HEAP_BASE as i32));
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    if start {
        exports.export("_start", ExportKind::Func, 3);
    }
    exports.export("OCI2WASM_LAYOUT", ExportKind::Global, 1);
    exports.export("__heap_base", ExportKind::Global, 2);

    let layout = u64::from(LAYOUT_ADDR);
    let mut f = Function::new([]);
    for ins in [
        // if layout.magic != MAGIC { proc_exit(99) }
        I::I32Const(0),
        load(layout),
        I::I32Const(libc_shim::layout::MAGIC as i32),
        I::I32Ne,
        I::If(wasm_encoder::BlockType::Empty),
        I::I32Const(99),
        I::Call(1),
        I::End,
        // iovec[0] = { fs_offset, 8 } at 512; iovec[1] = { config_offset, config_len } at 520
        I::I32Const(0),
        I::I32Const(0),
        load(layout + 12),
        store(512),
        I::I32Const(0),
        I::I32Const(8),
        store(516),
        I::I32Const(0),
        I::I32Const(0),
        load(layout + 20),
        store(520),
        I::I32Const(0),
        I::I32Const(0),
        load(layout + 24),
        store(524),
        // fd_write(1, 512, 1, 600); fd_write(1, 520, 1, 600) (the adapter writes one iovec a
        // call); exit_with_code(EXIT_STATUS)
        I::I32Const(1),
        I::I32Const(512),
        I::I32Const(1),
        I::I32Const(600),
        I::Call(0),
        I::Drop,
        I::I32Const(1),
        I::I32Const(520),
        I::I32Const(1),
        I::I32Const(600),
        I::Call(0),
        I::Drop,
        I::I32Const(EXIT_STATUS),
        I::Call(2),
        I::End,
    ] {
        f.instruction(&ins);
    }
    let mut code = CodeSection::new();
    code.function(&f);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(LAYOUT_ADDR as i32), [0u8; 32]);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}
