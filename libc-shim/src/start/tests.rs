//! Tests of `docker run` semantics and of the whole start: boot from an image, then the main
//! loop with a scripted executor (syscalls, a fault delivered to a handler, `rt_sigreturn`).

use super::*;
use crate::layout::push_config_record;
use crate::mem::testing::host_mem;
use crate::mm::FixedWindow;
use crate::platform::testing::TestPlatform;
use alloc::vec;
use vfs_pack::tree::{Inode, Meta, Node as TNode, Tree};

fn image() -> &'static [u8] {
    let mut t = Tree::new();
    let add = |t: &mut Tree, path: &[u8], node: TNode, mode: u32| {
        let (dir, name) = t
            .resolve_parent(path, Some(Meta::root(0o755)), false)
            .unwrap();
        let id = t.add(Inode {
            meta: Meta::root(mode),
            node,
        });
        t.link(dir, &name, id);
    };
    let prog = crate::loader::tests::elf(2, 0x40_0000, None);
    add(&mut t, b"/bin/prog", TNode::File(prog), 0o755);
    add(
        &mut t,
        b"/usr/bin/script",
        TNode::File(b"#!/bin/prog -x\necho\n".to_vec()),
        0o755,
    );
    add(
        &mut t,
        b"/etc/passwd",
        TNode::File(
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".to_vec(),
        ),
        0o644,
    );
    add(
        &mut t,
        b"/etc/group",
        TNode::File(b"root:x:0:\nstaff:x:50:\n".to_vec()),
        0o644,
    );
    add(&mut t, b"/etc/motd", TNode::File(b"hi".to_vec()), 0o644);
    let mut bytes = Vec::new();
    vfs_pack::write(&t, &mut bytes).unwrap();
    Box::leak(bytes.into_boxed_slice())
}

fn vfs(p: &mut TestPlatform) -> Vfs {
    Vfs::new(vfs_pack::Image::parse(image()).unwrap(), p)
}

fn v(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn docker_run_semantics() {
    let mut p = TestPlatform::default();
    let fs = vfs(&mut p);
    let cfg = RunConfig {
        entrypoint: v(&["/bin/prog"]),
        cmd: v(&["a", "b"]),
        env: v(&["PATH=/bin", "X=1"]),
        ..RunConfig::default()
    };
    let l = plan(&cfg, &v(&["prog"]), &[], &fs, &mut p).unwrap();
    assert_eq!(l.argv, v(&["/bin/prog", "a", "b"]));
    assert_eq!(
        l.envp,
        v(&["HOSTNAME=localhost", "PATH=/bin", "X=1", "HOME=/root"])
    );
    // Run-time args replace Cmd; env adds and overrides; OCI2WASM_* is for the runtime.
    let l = plan(
        &cfg,
        &v(&["prog", "c"]),
        &v(&["X=2", "OCI2WASM_STRACE=1"]),
        &fs,
        &mut p,
    )
    .unwrap();
    assert_eq!(l.argv, v(&["/bin/prog", "c"]));
    assert!(
        l.envp.contains(&b"X=2".to_vec()) && !l.envp.iter().any(|e| e.starts_with(b"OCI2WASM"))
    );
    assert!(l.strace);
    // --entrypoint replaces the entrypoint and drops Cmd.
    let l = plan(
        &cfg,
        &v(&["prog"]),
        &v(&["OCI2WASM_ENTRYPOINT=sh\x1f-c"]),
        &fs,
        &mut p,
    )
    .unwrap();
    assert_eq!(l.argv, v(&["sh", "-c"]));
    let empty = RunConfig::default();
    assert_eq!(
        plan(&empty, &v(&["prog"]), &[], &fs, &mut p),
        Err(StartError::NoCommand)
    );
    // User from /etc/passwd, group by name, unknown names fail, unknown uids are fine.
    let user = |u: &str, p: &mut TestPlatform| {
        let c = RunConfig {
            user: Some(u.as_bytes().to_vec()),
            cmd: v(&["x"]),
            ..RunConfig::default()
        };
        plan(&c, &[], &[], &fs, p)
    };
    let l = user("app", &mut p).unwrap();
    assert_eq!((l.cred.uid, l.cred.gid), (1000, 1001));
    assert!(l.envp.contains(&b"HOME=/home/app".to_vec()));
    assert_eq!(user("1000:staff", &mut p).unwrap().cred.gid, 50);
    assert_eq!(user("nobody", &mut p).unwrap_err().status(), 125);
    assert!(
        user("4242", &mut p)
            .unwrap()
            .envp
            .contains(&b"HOME=/".to_vec())
    );
    // PATH lookup.
    assert_eq!(
        find_command(&fs, &mut p, b"prog", b"/usr/bin:/bin"),
        Ok(b"/bin/prog".to_vec())
    );
    assert_eq!(
        find_command(&fs, &mut p, b"nope", b"/bin")
            .unwrap_err()
            .status(),
        127
    );
    assert_eq!(
        find_command(&fs, &mut p, b"/etc/motd", b"/bin")
            .unwrap_err()
            .status(),
        126
    );
}

#[test]
fn boot_loads_scripts_through_their_interpreter() {
    let mut p = TestPlatform::default();
    let fs = vfs(&mut p);
    let mut h = host_mem(64 << 20);
    let mut mm = Mm::new(Box::new(FixedWindow), 64 << 20);
    mm.mmap_base = 0x100_0000;
    let launch = Launch {
        argv: v(&["script", "arg"]),
        envp: v(&["PATH=/usr/bin:/bin"]),
        workdir: b"/work/dir".to_vec(),
        ..Launch::default()
    };
    let (proc, cpu) = boot(&launch, fs, mm, &mut h.mem, &mut p).unwrap();
    assert_eq!(cpu.rip, 0x40_1000);
    assert_eq!(proc.vfs.exe, b"/bin/prog");
    assert_eq!(proc.vfs.cmdline, b"/bin/prog\0-x\0/usr/bin/script\0arg\0");
    assert_eq!(crate::fs::path_string(&proc.vfs.cwd), b"/work/dir");
    assert_eq!(h.mem.read_u64(cpu.gpr[reg::RSP]).unwrap(), 4, "argc");
    assert_eq!(proc.vfs.fds.fds(), [0, 1, 2]);
}

/// One step of a scripted executor.
type Step = Box<dyn FnMut(&mut Cpu, &mut GuestMem) -> Stop>;

/// An executor that runs a list of steps, one per call.
struct Script(Vec<Step>, usize);

impl Executor for Script {
    fn run(&mut self, cpu: &mut Cpu, mem: &mut GuestMem, _budget: u64) -> Stop {
        self.1 += 1;
        (self.0[self.1 - 1])(cpu, mem)
    }
    fn invalidate(&mut self, _addr: u64, _len: u64) {}
    fn rflags(cpu: &Cpu) -> u64 {
        crate::syscall::testing::rflags(cpu)
    }
    fn set_rflags(cpu: &mut Cpu, v: u64) {
        crate::syscall::testing::set_rflags(cpu, v);
    }
}

fn syscall(cpu: &mut Cpu, nr: u64, args: &[u64]) -> Stop {
    cpu.gpr[reg::RAX] = nr;
    for (r, a) in [reg::RDI, reg::RSI, reg::RDX, reg::R10]
        .into_iter()
        .zip(args)
    {
        cpu.gpr[r] = *a;
    }
    Stop::Syscall
}

fn started(p: &mut TestPlatform, h: &mut crate::mem::testing::HostMem) -> (Process, Cpu) {
    let mut cfg = Vec::new();
    push_config_record(&mut cfg, ConfigTag::Entrypoint, b"/bin/prog");
    let c = RunConfig::parse(&cfg);
    let fs = vfs(p);
    let l = plan(&c, &[], &[], &fs, p).unwrap();
    let mut mm = Mm::new(Box::new(FixedWindow), 64 << 20);
    mm.mmap_base = 0x100_0000;
    boot(&l, fs, mm, &mut h.mem, p).unwrap()
}

#[test]
fn main_loop_runs_syscalls_and_delivers_faults_to_handlers() {
    let mut p = TestPlatform::default();
    let mut h = host_mem(64 << 20);
    let (mut proc, mut cpu) = started(&mut p, &mut h);
    let handler = 0x40_1010;
    let restorer = 0x40_1020;
    let steps: Vec<Step> = vec![
        // sigaction(SIGSEGV, {handler, SA_SIGINFO|SA_RESTORER, restorer}) with the struct on the stack.
        Box::new(move |c, m| {
            let at = c.gpr[reg::RSP] - 256;
            let act = SigAction {
                handler,
                flags: sig::SA_SIGINFO | sig::SA_RESTORER,
                restorer,
                mask: 0,
            };
            m.slice_mut(at, 32)
                .unwrap()
                .copy_from_slice(&act.to_bytes());
            syscall(c, 13, &[11, at, 0, 8])
        }),
        Box::new(|c, _| {
            assert_eq!(c.gpr[reg::RAX], 0);
            c.gpr[reg::RBX] = 0x1234;
            c.rip = 0x40_1004;
            Stop::Fault {
                signal: 11,
                addr: 0,
                write: true,
            }
        }),
        // In the handler: the kernel's arguments and frame.
        Box::new(move |c, m| {
            assert_eq!((c.rip, c.gpr[reg::RDI]), (handler, 11));
            assert_eq!((c.gpr[reg::RSP] + 8) % 16, 0);
            assert_eq!(m.read_u64(c.gpr[reg::RSP]).unwrap(), restorer);
            assert_eq!(m.read_u64(c.gpr[reg::RSI] + 16).unwrap(), 0, "si_addr");
            let uc = c.gpr[reg::RDX];
            assert_eq!(
                m.read_u64(uc + 40 + 8 * 16).unwrap(),
                0x40_1004,
                "saved rip"
            );
            // The handler skips the faulting instruction, then returns into the restorer.
            m.write_u64(uc + 40 + 8 * 16, 0x40_1008).unwrap();
            c.gpr[reg::RBX] = 0;
            c.gpr[reg::RSP] += 8;
            syscall(c, 15, &[])
        }),
        Box::new(|c, _| {
            assert_eq!((c.rip, c.gpr[reg::RBX]), (0x40_1008, 0x1234));
            syscall(c, 1, &[1, c.gpr[reg::RSP], 0])
        }),
        Box::new(|c, _| syscall(c, 231, &[3])),
    ];
    let status = run(
        &mut proc,
        &mut cpu,
        &mut h.mem,
        &mut p,
        &mut Script(steps, 0),
    );
    assert_eq!(status, 3);
}

#[test]
fn unhandled_signals_end_the_process_like_a_shell_reports() {
    let mut p = TestPlatform::default();
    let mut h = host_mem(64 << 20);
    let (mut proc, mut cpu) = started(&mut p, &mut h);
    let steps: Vec<Step> = vec![Box::new(|_, _| Stop::InvalidOpcode)];
    assert_eq!(
        run(
            &mut proc,
            &mut cpu,
            &mut h.mem,
            &mut p,
            &mut Script(steps, 0)
        ),
        132
    );
    assert_eq!(p.stderr, b"Illegal instruction (core dumped)\n");
    let mut p = TestPlatform::default();
    let mut h = host_mem(64 << 20);
    let (mut proc, mut cpu) = started(&mut p, &mut h);
    // raise(SIGABRT) via tgkill: delivered after the syscall returns.
    let steps: Vec<Step> = vec![Box::new(|c, _| syscall(c, 234, &[1, 1, 6]))];
    assert_eq!(
        run(
            &mut proc,
            &mut cpu,
            &mut h.mem,
            &mut p,
            &mut Script(steps, 0)
        ),
        134
    );
    // Unbounded recursion runs into the guard page below the stack: SIGSEGV, 139.
    let mut p = TestPlatform::default();
    let mut h = host_mem(64 << 20);
    let (mut proc, mut cpu) = started(&mut p, &mut h);
    let steps: Vec<Step> = vec![Box::new(|c, m| {
        let mut sp = c.gpr[reg::RSP];
        loop {
            sp -= 8;
            if let Err(f) = m.write_u64(sp, 0) {
                return Stop::Fault {
                    signal: 11,
                    addr: f.addr,
                    write: true,
                };
            }
        }
    })];
    assert_eq!(
        run(
            &mut proc,
            &mut cpu,
            &mut h.mem,
            &mut p,
            &mut Script(steps, 0)
        ),
        139
    );
    assert_eq!(p.stderr, b"Segmentation fault (core dumped)\n");
}
