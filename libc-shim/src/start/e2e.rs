//! End-to-end tests on the host: small static programs assembled with iced's `code_asm`, packed
//! into an image with files they use, started with `docker run` semantics and run by the real
//! interpreter through the runtime (syscalls, overlay, faults, stack guard). When the host has
//! a static `/bin/busybox`, it runs a few applets too.

use super::*;
use crate::interp::Interp;
use crate::mem::testing::host_mem;
use crate::mm::FixedWindow;
use crate::platform::testing::TestPlatform;
use iced_x86::code_asm::*;
use vfs_pack::tree::{Inode, Meta, Node as TNode, Tree};

/// A static ELF whose one RX segment at 0x400000 holds the headers, then `code` at 0x401000.
fn elf(code: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![0u8; 0x1000];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4..7].copy_from_slice(&[2, 1, 1]);
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&62u16.to_le_bytes());
    b[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&1u16.to_le_bytes());
    let size = 0x1000 + code.len() as u64;
    let ph = [1u32.to_le_bytes(), 5u32.to_le_bytes()].concat();
    b[64..72].copy_from_slice(&ph);
    b[80..88].copy_from_slice(&0x40_0000u64.to_le_bytes());
    b[96..104].copy_from_slice(&size.to_le_bytes());
    b[104..112].copy_from_slice(&size.to_le_bytes());
    b.extend_from_slice(code);
    b
}

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    elf(&a.assemble(0x40_1000).unwrap())
}

/// Packs `files` (path, bytes, mode) and runs the first with `args`; returns (status, stdout,
/// stderr).
fn run_image(files: &[(&str, Vec<u8>, u32)], args: &[&str]) -> (i32, Vec<u8>, Vec<u8>) {
    run_with(files, args, &[], b"")
}

/// [`run_image`] with a WASI environment and stdin.
fn run_with(
    files: &[(&str, Vec<u8>, u32)],
    args: &[&str],
    env: &[&str],
    stdin: &[u8],
) -> (i32, Vec<u8>, Vec<u8>) {
    let mut t = Tree::new();
    for (path, data, mode) in files {
        let (dir, name) = t
            .resolve_parent(path.as_bytes(), Some(Meta::root(0o755)), false)
            .unwrap();
        let node = match mode >> 12 {
            0o12 => TNode::Symlink(data.clone()),
            0o4 => TNode::Dir(Default::default()),
            _ => TNode::File(data.clone()),
        };
        let id = t.add(Inode {
            meta: Meta::root(*mode & 0o7777),
            node,
        });
        t.link(dir, &name, id);
    }
    let mut bytes = Vec::new();
    vfs_pack::write(&t, &mut bytes).unwrap();
    let image: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let mut cfg = Vec::new();
    crate::layout::push_config_record(&mut cfg, ConfigTag::Entrypoint, files[0].0.as_bytes());
    let mut p = TestPlatform {
        args: core::iter::once("prog")
            .chain(args.iter().copied())
            .map(|a| a.as_bytes().to_vec())
            .collect(),
        env: env
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .chain(
                std::env::var("E2E_STRACE")
                    .ok()
                    .map(|_| b"OCI2WASM_STRACE=1".to_vec()),
            )
            .collect(),
        stdin: stdin.to_vec(),
        ..TestPlatform::default()
    };
    let mut h = host_mem(256 << 20);
    let mut exec = InterpExecutor(Interp::new());
    let status = main(
        &mut p,
        image,
        &cfg,
        &mut h.mem,
        Space {
            grow: Box::new(FixedWindow),
            limit: 256 << 20,
            reserved: 0,
        },
        &mut exec,
    );
    (status, p.stdout, p.stderr)
}

#[test]
fn hello_reads_a_file_and_exits_with_its_status() {
    let prog = asm(|a| {
        let mut msg = a.create_label();
        let mut path = a.create_label();
        a.mov(eax, 1)?;
        a.mov(edi, 1)?;
        a.lea(rsi, ptr(msg))?;
        a.mov(edx, 6)?;
        a.syscall()?;
        a.mov(eax, 2)?;
        a.lea(rdi, ptr(path))?;
        a.xor(esi, esi)?;
        a.syscall()?;
        a.mov(edi, eax)?;
        a.sub(rsp, 256)?;
        a.xor(eax, eax)?;
        a.mov(rsi, rsp)?;
        a.mov(edx, 256)?;
        a.syscall()?;
        a.mov(edx, eax)?;
        a.mov(eax, 1)?;
        a.mov(edi, 1)?;
        a.mov(rsi, rsp)?;
        a.syscall()?;
        a.mov(eax, 231)?;
        a.mov(edi, 7)?;
        a.syscall()?;
        a.set_label(&mut msg)?;
        a.db(b"hello\n")?;
        a.set_label(&mut path)?;
        a.db(b"/etc/motd\0")?;
        Ok(())
    });
    let (status, out, err) = run_image(
        &[
            ("/prog", prog, 0o755),
            ("/etc/motd", b"motd!\n".to_vec(), 0o644),
        ],
        &[],
    );
    assert_eq!(
        (status, out, err),
        (7, b"hello\nmotd!\n".to_vec(), Vec::new())
    );
}

#[test]
fn null_write_and_unbounded_recursion_end_with_sigsegv() {
    let null = asm(|a| a.mov(qword_ptr(0x10u64), 1));
    let (status, _, err) = run_image(&[("/prog", null, 0o755)], &[]);
    assert_eq!(
        (status, &err[..]),
        (139, &b"Segmentation fault (core dumped)\n"[..])
    );
    let recurse = asm(|a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.call(top)
    });
    let (status, _, _) = run_image(&[("/prog", recurse, 0o755)], &[]);
    assert_eq!(status, 139);
    let ud = asm(|a| a.ud2());
    assert_eq!(run_image(&[("/prog", ud, 0o755)], &[]).0, 132);
}

#[test]
fn unknown_syscall_is_enosys() {
    let prog = asm(|a| {
        a.mov(eax, 500)?;
        a.syscall()?;
        a.mov(edi, eax)?;
        a.mov(eax, 60)?;
        a.syscall()
    });
    let (status, _, err) = run_image(&[("/prog", prog, 0o755)], &[]);
    assert_eq!(status, 256 - 38);
    assert!(String::from_utf8_lossy(&err).contains("unsupported syscall 500"));
}

/// Runs the host's static busybox (Debian's busybox-static, static glibc) if there is one, and
/// compares each applet's stdout and status with what it prints natively for these inputs.
#[test]
fn host_busybox_applets() {
    let Ok(bb) = std::fs::read("/bin/busybox") else {
        return;
    };
    if crate::loader::Elf::parse(&bb).map_or(true, |e| e.interp.is_some()) {
        return;
    }
    let files = [
        ("/bin/busybox", bb, 0o755),
        ("/bin/sh", b"busybox".to_vec(), 0o120777),
        (
            "/etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
            0o644,
        ),
        ("/etc/motd", b"b\na\nc\n".to_vec(), 0o644),
        ("/tmp", Vec::new(), 0o41777),
    ];
    let cases: &[(&[&str], &str, i32)] = &[
        (&["echo", "hello", "world"], "hello world\n", 0),
        (&["sort", "/etc/motd"], "a\nb\nc\n", 0),
        (&["cat", "/etc/motd"], "b\na\nc\n", 0),
        (&["wc", "-l", "/etc/motd"], "3 /etc/motd\n", 0),
        (
            &["md5sum", "/etc/motd"],
            "c50b8a351c4f73c8f4faac01e26bcbff  /etc/motd\n",
            0,
        ),
        (
            &["sha256sum", "/etc/motd"],
            "af8fcee01ae24dc6c3e667d5f3aaba900637223e1cf618b92c4c548cf97e81f5  /etc/motd\n",
            0,
        ),
        (&["sh", "-c", "echo $((1+2)); x=5; echo ${x}"], "3\n5\n", 0),
        (
            &[
                "sh",
                "-c",
                "echo hi > /tmp/x; read l < /tmp/x; echo got $l; echo up >> /dev/stdout",
            ],
            "got hi\nup\n",
            0,
        ),
        (&["sh", "-c", "exit 3"], "", 3),
        (
            &["printf", "%f %e %g\\n", "1.5", "2.5", "3.5"],
            "1.500000 2.500000e+00 3.5\n",
            0,
        ),
        (&["find", "/etc"], "/etc\n/etc/motd\n/etc/passwd\n", 0),
        (&["base64", "/etc/motd"], "YgphCmMK\n", 0),
        (&["awk", "BEGIN{print 1+2}"], "3\n", 0),
        (&["sed", "s/a/z/", "/etc/motd"], "b\nz\nc\n", 0),
        (&["factor", "91"], "91: 7 13\n", 0),
        (&["dc", "-e", "2 3 + p"], "5\n", 0),
        (&["expr", "3", "*", "4"], "12\n", 0),
        (&["seq", "3"], "1\n2\n3\n", 0),
        (&["pwd"], "/\n", 0),
        (&["false"], "", 1),
        (&["cat", "/nonexistent"], "", 1),
    ];
    for (args, out, status) in cases {
        let (s, o, _) = run_image(&files, args);
        assert_eq!(
            (s, String::from_utf8_lossy(&o).into_owned()),
            (*status, String::from(*out)),
            "{args:?}"
        );
    }
}

/// The musl fixture programs, built by hand into `$E2E_MUSL` (`musl-gcc -static -O2`), against
/// the native outputs recorded in `fixtures/out/musl/native`.
#[test]
#[ignore = "needs E2E_MUSL=DIR of static musl builds of fixtures/src"]
fn musl_fixture_programs() {
    let Ok(dir) = std::env::var("E2E_MUSL") else {
        return;
    };
    let native = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/out/musl/native");
    for prog in [
        "hello", "exitcode", "floats", "fenv", "allocs", "sorting", "strings", "jumps", "files",
        "clocks", "random", "stdin",
    ] {
        let bin = std::fs::read(std::format!("{dir}/{prog}")).unwrap();
        let path = std::format!("/usr/local/bin/{prog}");
        let files = [(path.as_str(), bin, 0o755), ("/tmp", Vec::new(), 0o41777)];
        let args: &[&str] = match prog {
            "hello" => &["one", "two words"],
            "exitcode" => &["0"],
            "files" => &["/tmp"],
            _ => &[],
        };
        let (status, out, err) = run_with(
            &files,
            args,
            &["GREETING=hello"],
            b"first line\nsecond line\n",
        );
        let want = std::fs::read(std::format!("{native}/{prog}.stdout")).unwrap_or_default();
        std::println!(
            "=== {prog}: status {status}, stdout {} ({} bytes)\n{}",
            if out == want { "MATCHES" } else { "DIFFERS" },
            out.len(),
            String::from_utf8_lossy(&err)
        );
        if out != want {
            std::println!(
                "--- got:\n{}\n--- want:\n{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want)
            );
        }
    }
}
