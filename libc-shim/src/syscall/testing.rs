//! A host harness for syscall tests: a process over the test image, a 64 MiB guest memory with
//! a scratch area, the test platform, and plain RFLAGS accessors.

use super::{Ctx, dispatch};
use crate::cpu::{Cpu, reg};
use crate::mem::testing::{HostMem, host_mem};
use crate::mm::{FixedWindow, Mm};
use crate::platform::testing::TestPlatform;
use crate::process::Process;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Guest address of a 1 MiB read-write scratch area.
pub const SCRATCH: u64 = 0x10_0000;

/// RFLAGS kept in a plain field for tests (the interpreter's are lazy).
pub fn rflags(cpu: &Cpu) -> u64 {
    cpu.flags.stored | 2
}
pub fn set_rflags(cpu: &mut Cpu, v: u64) {
    cpu.flags.stored = v;
}

#[derive(Debug)]
pub struct Harness {
    pub proc: Process,
    pub cpu: Cpu,
    pub host: HostMem,
    pub p: TestPlatform,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        let mut p = TestPlatform::default();
        let vfs = crate::fs::Vfs::new(crate::fs::tests::image(), &mut p);
        let mut host = host_mem(64 << 20);
        let mut mm = Mm::new(Box::new(FixedWindow), 64 << 20);
        mm.set_brk_start(0x40_0000);
        mm.mmap_base = 0x100_0000;
        mm.map_fixed(&mut host.mem, SCRATCH, 1 << 20, 3, b"", 0)
            .unwrap();
        let mut proc = Process::new(vfs, mm, 0);
        for (fd, host_fd) in [(0, 0), (1, 1), (2, 2)] {
            let f = crate::fs::file::OpenFile::new(
                crate::fs::file::FileKind::Stdio(host_fd),
                if fd == 0 { 0 } else { 1 },
                Vec::new(),
            );
            assert_eq!(proc.vfs.fds.install(f, false).unwrap(), fd);
        }
        Harness {
            proc,
            cpu: Cpu::default(),
            host,
            p,
        }
    }

    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            proc: &mut self.proc,
            cpu: &mut self.cpu,
            mem: &mut self.host.mem,
            p: &mut self.p,
            rflags,
            set_rflags,
        }
    }

    /// Runs syscall `nr`; returns `rax` as signed.
    pub fn call(&mut self, nr: u64, args: &[u64]) -> i64 {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let g = &mut self.cpu.gpr;
        g[reg::RAX] = nr;
        for (r, v) in [reg::RDI, reg::RSI, reg::RDX, reg::R10, reg::R8, reg::R9]
            .into_iter()
            .zip(a)
        {
            g[r] = v;
        }
        dispatch(&mut self.ctx());
        self.cpu.gpr[reg::RAX] as i64
    }

    /// Puts a NUL-terminated string at `SCRATCH + off`; returns its address.
    pub fn str(&mut self, off: u64, s: &str) -> u64 {
        let at = SCRATCH + off;
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.host
            .mem
            .slice_mut(at, b.len() as u64)
            .unwrap()
            .copy_from_slice(&b);
        at
    }

    pub fn bytes(&self, at: u64, len: u64) -> Vec<u8> {
        self.host.mem.slice(at, len, 0).unwrap().to_vec()
    }
}
