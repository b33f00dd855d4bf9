//! Discovery on real programs: small C files compiled with `musl-gcc` (static and static-PIE),
//! checked against their own symbol tables, before and after `strip`.

use std::path::{Path, PathBuf};
use std::process::Command;

use goblin::elf::Elf;
use goblin::elf::sym::STT_FUNC;

use super::*;

/// A dense `switch` (a jump table at -O2) and a table of function pointers.
const PROGRAM: &str = r#"
#include <stdio.h>
__attribute__((noinline)) int classify(int x, int y) {
    switch (x) {
    case 0: return y * 3 + 1;
    case 1: return y ^ 0x55;
    case 2: return y - 17;
    case 3: return y << 3;
    case 4: return y / 7;
    case 5: return y % 11;
    case 6: return ~y;
    case 7: return y * y + 5;
    default: return -1;
    }
}
__attribute__((noinline)) static int op_add(int a, int b) { return a + b + 1; }
__attribute__((noinline)) static int op_sub(int a, int b) { return a - b - 2; }
__attribute__((noinline)) static int op_mul(int a, int b) { return a * b * 3; }
__attribute__((noinline)) static int op_xor(int a, int b) { return (a ^ b) + 4; }
typedef int (*op_fn)(int, int);
op_fn const ops[4] = { op_add, op_sub, op_mul, op_xor };
int main(int argc, char **argv) {
    int r = classify(argc, argc + 5);
    r += ops[argc & 3](r, argc);
    printf("%d %s\n", r, argv[0]);
    return 0;
}
"#;

/// A scratch directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oci2wasm-discover-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

/// How a test program is linked.
#[derive(Clone, Copy, Debug)]
enum Link {
    /// `musl-gcc -fno-pie -static`: fixed address, no relocations, absolute jump tables.
    Static,
    /// `-fPIE` objects and musl's `rcrt1.o` linked by `ld -static -pie` (Debian's musl-gcc
    /// turns `-static-pie` into a dynamic PIE).
    StaticPie,
    /// `musl-gcc -pie`: a dynamic PIE needing `libc.so`.
    DynamicPie,
    /// `gcc -static`: glibc, with IFUNCs and hand-written assembly.
    GlibcStatic,
}

/// Runs `cmd`, failing the test with a clear message if it cannot run or fails.
fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}); install musl-tools and binutils to run these tests")
    });
    assert!(status.success(), "{what} failed: {cmd:?}");
}

/// Where musl keeps one of its startup files or libraries (`musl-gcc -print-file-name` answers
/// for glibc, so the usual directories are searched).
fn musl_file(name: &str) -> PathBuf {
    [
        "/usr/lib/x86_64-linux-musl",
        "/usr/lib/musl/lib",
        "/usr/local/musl/lib",
    ]
    .iter()
    .map(|dir| Path::new(dir).join(name))
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("no musl {name}; install the musl-tools package"))
}

/// Compiles [`PROGRAM`] with `musl-gcc -O2`; returns the binary and a stripped copy.
fn build(name: &str, link: Link) -> (Vec<u8>, Vec<u8>) {
    let dir = scratch(name);
    let src = dir.join("prog.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let out = dir.join("prog");
    match link {
        Link::GlibcStatic => {
            let mut cc = Command::new("gcc");
            cc.args(["-O2", "-static", "-o"]).arg(&out).arg(&src);
            run(&mut cc, "gcc");
        }
        Link::Static | Link::DynamicPie => {
            // Fixed-address code uses absolute `jmp [table + rI*8]` tables; PIC relative ones.
            let flags = match link {
                Link::Static => ["-fno-pie", "-static"],
                _ => ["-fPIE", "-pie"],
            };
            let mut cc = Command::new("musl-gcc");
            cc.arg("-O2").args(flags).arg("-o").arg(&out).arg(&src);
            run(&mut cc, "musl-gcc");
        }
        Link::StaticPie => {
            let obj = dir.join("prog.o");
            let mut cc = Command::new("musl-gcc");
            cc.args(["-O2", "-fPIE", "-c", "-o"]).arg(&obj).arg(&src);
            run(&mut cc, "musl-gcc");
            let mut ld = Command::new("ld");
            ld.args(["-static", "-pie", "--no-dynamic-linker", "-z", "text", "-o"])
                .arg(&out)
                .args([musl_file("rcrt1.o"), musl_file("crti.o")])
                .arg(&obj)
                .args([musl_file("libc.a"), musl_file("crtn.o")]);
            run(&mut ld, "ld");
        }
    }
    let stripped = dir.join("prog.stripped");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&out)
        .status()
        .expect("cannot run strip (binutils)");
    assert!(status.success(), "strip failed");
    let result = (read(&out), read(&stripped));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `name -> (address, size)` of the `STT_FUNC` symbols of `.symtab`, at `bias`.
fn functions(elf_bytes: &[u8], bias: u64) -> Vec<(String, u64, u64)> {
    let elf = Elf::parse(elf_bytes).unwrap();
    elf.syms
        .iter()
        .filter(|s| s.st_type() == STT_FUNC && s.st_value != 0 && s.st_shndx != 0)
        .map(|s| {
            let name = elf.strtab.get_at(s.st_name).unwrap_or("").to_string();
            (name, s.st_value + bias, s.st_size)
        })
        .collect()
}

fn symbol(syms: &[(String, u64, u64)], name: &str) -> (u64, u64) {
    syms.iter()
        .find(|(n, ..)| n == name)
        .map(|&(_, a, s)| (a, s))
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

/// The common checks, for a binary loaded at `bias`.
fn check(name: &str, link: Link, bias: u64) {
    let (full, stripped) = build(name, link);
    let syms = functions(&full, bias);
    let code = Code::new(&full, bias).unwrap();
    let found = discover(&code, &full).unwrap();

    let entry = &found.functions[&code.entry()];
    assert!(entry.sources.contains(&Source::Entry));
    assert_eq!(entry.confidence, Confidence::Certain);
    let (main, _) = symbol(&syms, "main");
    let (classify, classify_size) = symbol(&syms, "classify");
    assert!(found.functions.contains_key(&main));
    assert!(found.functions.contains_key(&classify));

    let in_classify: Vec<_> = found
        .jump_tables
        .range(classify..classify + classify_size)
        .collect();
    assert_eq!(
        in_classify.len(),
        1,
        "{name}: jump tables in classify: {in_classify:x?}"
    );
    let targets = in_classify[0].1;
    assert_eq!(targets.len(), 8, "{name}: targets {targets:x?}");
    assert!(
        targets
            .iter()
            .all(|t| (classify..classify + classify_size).contains(t))
    );
    assert!(targets.iter().all(|t| found.branch_targets.contains(t)));

    // The same file without symbols: function pointers and FDEs still find the functions.
    let code = Code::new(&stripped, bias).unwrap();
    let bare = discover(&code, &stripped).unwrap();
    for op in ["op_add", "op_sub", "op_mul", "op_xor"] {
        let (addr, _) = symbol(&syms, op);
        let f = bare
            .functions
            .get(&addr)
            .unwrap_or_else(|| panic!("{name}: {op} not found"));
        assert!(
            f.sources.contains(&Source::DataPointer) || f.sources.contains(&Source::Relocation),
            "{name}: {op} found only by {:?}",
            f.sources
        );
    }
    assert!(
        bare.jump_tables
            .range(classify..classify + classify_size)
            .count()
            == 1
    );
    let sized: Vec<_> = syms.iter().filter(|(_, _, size)| *size > 0).collect();
    let missing: Vec<_> = sized
        .iter()
        .filter(|(_, addr, _)| !bare.functions.contains_key(addr))
        .collect();
    assert!(
        missing.len() * 10 <= sized.len(),
        "{name}: {} of {} sized functions missed after strip: {missing:x?}",
        missing.len(),
        sized.len()
    );
    assert!(bare.functions.keys().all(|&a| code.is_code(a)));
    let starts: std::collections::BTreeSet<u64> = syms.iter().map(|s| s.1).collect();
    let extra: Vec<_> = bare
        .functions
        .iter()
        .filter(|(a, _)| !starts.contains(a))
        .collect();
    println!(
        "{name}: {} found, {} not symbols: {extra:x?}",
        bare.functions.len(),
        extra.len()
    );
}

#[test]
fn static_program() {
    check("static", Link::Static, 0);
}

#[test]
fn static_pie_program_at_a_bias() {
    let (full, _) = build("static-pie-kind", Link::StaticPie);
    let info = crate::elf::analyze(&full).unwrap();
    assert_eq!(info.linking, crate::elf::Linking::StaticPie);
    check("static-pie", Link::StaticPie, 0x5555_0000_0000);
}

#[test]
fn glibc_static_program() {
    check("glibc-static", Link::GlibcStatic, 0);
}

#[test]
fn dynamic_pie_program_at_a_bias() {
    check("dynamic-pie", Link::DynamicPie, 0x7f00_1234_5000);
}

#[test]
fn damaged_files_do_not_panic() {
    let (full, _) = build("damaged", Link::Static);
    for cut in [0, 16, 64, 200, full.len() / 2, full.len() - 1] {
        if let Ok(code) = Code::new(&full[..cut], 0) {
            let _ = discover(&code, &full[..cut]);
        }
    }
    assert!(matches!(
        Code::new(&full, u64::MAX - 0x1000),
        Err(DiscoverError::AddressOverflow { .. })
    ));
    // Scribble over code and data with a fixed pseudo-random sequence.
    let mut bytes = full.clone();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = (x as usize) % bytes.len();
        if at > 0x40 {
            bytes[at] = (x >> 32) as u8;
        }
    }
    if let Ok(code) = Code::new(&bytes, 0) {
        let _ = discover(&code, &bytes);
    }
}

#[test]
fn not_x86_64() {
    let mut exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    exe[18] = 0xb7; // EM_AARCH64
    exe[19] = 0;
    assert_eq!(
        Code::new(&exe, 0).unwrap_err(),
        DiscoverError::NotX86_64 { machine: 0xb7 }
    );
}

/// Statistics on the host's static busybox (run by hand: `cargo test --release -p
/// oci2wasm-lift busybox -- --ignored --nocapture`).
#[test]
#[ignore = "prints statistics about /bin/busybox"]
fn busybox_statistics() {
    let path = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("no /bin/busybox (package busybox-static)");
    let elf = read(Path::new(path));
    let started = std::time::Instant::now();
    let code = Code::new(&elf, 0).unwrap();
    let found = discover(&code, &elf).unwrap();
    let took = started.elapsed();
    let code_bytes: u64 = code.ranges().iter().map(|(s, e)| e - s).sum();
    println!("{path}: {code_bytes} code bytes, discovered in {took:?}");
    println!("functions: {}", found.functions.len());
    for (source, n) in found.count_by_source() {
        println!("  {source:?}: {n}");
    }
    let mut by_confidence = std::collections::BTreeMap::new();
    for f in found.functions.values() {
        *by_confidence.entry(f.confidence).or_insert(0) += 1;
    }
    println!("by confidence: {by_confidence:?}");
    let parsed = Elf::parse(&elf).unwrap();
    let regions = seeds::eh_frame(&code, &parsed, &elf, &mut Vec::new());
    let inside = |a: u64| {
        regions
            .range(..a)
            .next_back()
            .is_some_and(|(_, &end)| a < end)
    };
    let mut interior = std::collections::BTreeMap::new();
    for (addr, f) in &found.functions {
        if inside(*addr) {
            *interior.entry(f.confidence).or_insert(0) += 1;
        }
    }
    println!("functions strictly inside another FDE's range (labels?): {interior:?}");
    let entries: usize = found.jump_tables.values().map(Vec::len).sum();
    println!(
        "jump tables: {} ({entries} targets)",
        found.jump_tables.len()
    );
    println!("unresolved indirect jmps: {}", found.unresolved_jumps.len());
    if let Ok(dump) = std::env::var("DISCOVER_DUMP") {
        let text: String = found
            .unresolved_jumps
            .iter()
            .map(|a| format!("{a:x}\n"))
            .collect();
        std::fs::write(dump, text).unwrap();
    }
    println!("branch targets: {}", found.branch_targets.len());
    println!("instructions decoded: {}", found.instructions);
}
