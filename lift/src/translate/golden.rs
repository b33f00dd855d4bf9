//! Golden tests of the Wasm emitted for a few small functions: the text form (wasmprinter) of
//! each lifted module is compared with `golden/NAME.wat`. After an intended change to the
//! emitted code, review the diff and rewrite the files with
//! `BLESS=1 cargo test -p oci2wasm-lift golden`.

use iced_x86::code_asm::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::testing::{CODE, assemble, counting_loop, module};

fn check(name: &str, code: &[u8]) {
    let (wasm, _) = module(code, &[CODE], BTreeMap::new());
    let text = wasmprinter::print_bytes(&wasm).expect("the lifted module prints");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/translate/golden")
        .join(format!("{name}.wat"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with BLESS=1", path.display()));
    if want != text {
        let first = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{name}: the emitted Wasm changed (first difference at line {}):\n  golden: {:?}\n  now:    {:?}\nreview and rerun with BLESS=1",
            first + 1,
            want.lines().nth(first),
            text.lines().nth(first)
        );
    }
}

#[test]
fn golden_counting_loop() {
    // cmp+jcc fusion: `dec; jnz` becomes one compare of the result with zero.
    check("counting_loop", &counting_loop());
}

#[test]
fn golden_recursive_call() {
    // A direct call: return address pushed, Wasm call, return-address check, reloads.
    check(
        "recursive_call",
        &assemble(&|a| {
            let mut f = a.create_label();
            let mut out = a.create_label();
            a.set_label(&mut f)?;
            a.cmp(edi, 1)?;
            a.jle(out)?;
            a.push(rbx)?;
            a.mov(ebx, edi)?;
            a.dec(edi)?;
            a.call(f)?;
            a.add(eax, ebx)?;
            a.pop(rbx)?;
            a.ret()?;
            a.set_label(&mut out)?;
            a.mov(eax, edi)?;
            a.ret()
        }),
    );
}

#[test]
fn golden_helper_and_syscall() {
    // `cpuid` runs in the interpreter's helper; `syscall` stops and ends its block.
    check(
        "helper_and_syscall",
        &assemble(&|a| {
            a.xor(eax, eax)?;
            a.cpuid()?;
            a.mov(eax, 39)?;
            a.syscall()?;
            a.ret()
        }),
    );
}
