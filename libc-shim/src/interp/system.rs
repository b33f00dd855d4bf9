//! System and miscellaneous instructions: syscall, cpuid (a fixed, consistent CPU), rdtsc, flag
//! instructions (clc/stc/cmc/cld/std/lahf/sahf), the no-ops (nop, pause, endbr64, fences,
//! serialize, prefetches, cache-line hints) and the trapping ones (int3, hlt, ud2, xgetbv with OSXSAVE off). Anything else
//! goes on to `x87`.

use iced_x86::Mnemonic as M;

use super::Exit;
use super::flags::{AF, CF, DF, PF, SF, ZF, rflags};
use super::operand::{Ctx, Step};
use super::x87;

pub(crate) fn exec(c: &mut Ctx, m: M) -> Step {
    match m {
        M::Syscall => {
            c.cpu.gpr[1] = c.cpu.rip;
            c.cpu.gpr[11] = rflags(c.cpu);
            return Err(Exit::Syscall);
        }
        M::Nop
        | M::Reservednop
        | M::Pause
        | M::Endbr64
        | M::Endbr32
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetchw
        | M::Prefetch
        | M::Clflush
        | M::Clflushopt
        | M::Clwb
        | M::Cldemote
        | M::Serialize => {}
        M::Cpuid => cpuid(c),
        M::Rdtsc => {
            let t = c.icount;
            c.cpu.gpr[0] = t & 0xffff_ffff;
            c.cpu.gpr[2] = t >> 32;
        }
        M::Clc => c.cpu.flags.update(CF, 0),
        M::Stc => c.cpu.flags.update(CF, CF),
        M::Cmc => {
            let cf = c.cpu.flags.cf();
            c.cpu.flags.update(CF, !cf as u64);
        }
        M::Cld => c.cpu.flags.stored &= !DF,
        M::Std => c.cpu.flags.stored |= DF,
        M::Lahf => {
            let ah = (rflags(c.cpu) & 0xff) as u8 as u64;
            c.cpu.gpr[0] = (c.cpu.gpr[0] & !0xff00) | ah << 8;
        }
        M::Sahf => {
            let ah = (c.cpu.gpr[0] >> 8) & 0xff;
            let which = CF | PF | AF | ZF | SF;
            c.cpu.flags.update(which, ah);
        }
        M::Int3 => return Err(Exit::Breakpoint),
        M::Hlt => return Err(Exit::Halt),
        _ => return x87::exec(c, m),
    }
    Ok(())
}

/// cpuid leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, CX16, SSE4.1, SSE4.2, MOVBE, POPCNT, AES. No
/// XSAVE/OSXSAVE/AVX.
const LEAF1_ECX: u32 =
    1 | 1 << 1 | 1 << 9 | 1 << 13 | 1 << 19 | 1 << 20 | 1 << 22 | 1 << 23 | 1 << 25;
/// cpuid leaf 1 EDX: FPU, TSC, CX8, CMOV, CLFSH, MMX, FXSR, SSE, SSE2.
const LEAF1_EDX: u32 =
    1 | 1 << 4 | 1 << 8 | 1 << 15 | 1 << 19 | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26;
/// cpuid leaf 7 EBX: BMI1, BMI2, ADX, CLFLUSHOPT, CLWB, SHA.
const LEAF7_EBX: u32 = 1 << 3 | 1 << 8 | 1 << 19 | 1 << 23 | 1 << 24 | 1 << 29;
/// cpuid leaf 7 ECX: GFNI, CLDEMOTE.
const LEAF7_ECX: u32 = 1 << 8 | 1 << 25;
/// cpuid leaf 7 EDX: SERIALIZE.
const LEAF7_EDX: u32 = 1 << 14;
const BRAND: &[u8; 48] = b"oci2wasm x86-64 interpreter\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// A fixed Intel-like CPU: family 6, one core, 32K L1d, 256K L2, 8M L3.
fn leaf(eax: u32, ecx: u32) -> [u32; 4] {
    match eax {
        0 => [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69],
        1 => [0x0003_06a9, 0x0001_0800, LEAF1_ECX, LEAF1_EDX],
        // Descriptor 0xff: "use leaf 4".
        2 => [0x00ff_0001, 0, 0, 0],
        4 => {
            // (type | level << 5 | self-init, ways, line, sets) per cache.
            let (t, ways, sets) = match ecx {
                0 => (1 | 1 << 5, 8, 64),
                1 => (2 | 1 << 5, 8, 64),
                2 => (3 | 2 << 5, 4, 1024),
                3 => (3 | 3 << 5, 16, 8192),
                _ => return [0; 4],
            };
            [t | 1 << 8, (ways - 1) << 22 | 63, sets - 1, 0]
        }
        7 if ecx == 0 => [0, LEAF7_EBX, LEAF7_ECX, LEAF7_EDX],
        0x8000_0000 => [0x8000_0008, 0, 0, 0],
        // LAHF/SAHF, LZCNT and PREFETCHW; SYSCALL, NX, long mode.
        0x8000_0001 => [0, 0, 1 | 1 << 5 | 1 << 8, 1 << 11 | 1 << 20 | 1 << 29],
        0x8000_0002..=0x8000_0004 => {
            let i = (eax - 0x8000_0002) as usize * 16;
            let w = |k: usize| {
                let b = &BRAND[i + 4 * k..i + 4 * k + 4];
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            };
            [w(0), w(1), w(2), w(3)]
        }
        0x8000_0006 => [0, 0, 0x0100_6040, 0],
        0x8000_0008 => [0x3030, 0, 0, 0],
        _ => [0; 4],
    }
}

fn cpuid(c: &mut Ctx) {
    let r = leaf(c.cpu.gpr[0] as u32, c.cpu.gpr[1] as u32);
    c.cpu.gpr[0] = r[0] as u64;
    c.cpu.gpr[3] = r[1] as u64;
    c.cpu.gpr[1] = r[2] as u64;
    c.cpu.gpr[2] = r[3] as u64;
}

#[cfg(test)]
mod tests {
    use super::leaf;

    /// Linux's `/proc/cpuinfo` name of every feature bit the leaves may claim: (leaf, register
    /// index in [eax, ebx, ecx, edx], bit, name).
    const NAMES: &[(u32, usize, u32, &str)] = &[
        (1, 3, 0, "fpu"),
        (1, 3, 4, "tsc"),
        (1, 3, 8, "cx8"),
        (1, 3, 15, "cmov"),
        (1, 3, 19, "clflush"),
        (1, 3, 23, "mmx"),
        (1, 3, 24, "fxsr"),
        (1, 3, 25, "sse"),
        (1, 3, 26, "sse2"),
        (1, 2, 0, "pni"),
        (1, 2, 1, "pclmulqdq"),
        (1, 2, 9, "ssse3"),
        (1, 2, 13, "cx16"),
        (1, 2, 19, "sse4_1"),
        (1, 2, 20, "sse4_2"),
        (1, 2, 22, "movbe"),
        (1, 2, 23, "popcnt"),
        (1, 2, 25, "aes"),
        (7, 1, 3, "bmi1"),
        (7, 1, 8, "bmi2"),
        (7, 1, 19, "adx"),
        (7, 1, 23, "clflushopt"),
        (7, 1, 24, "clwb"),
        (7, 1, 29, "sha_ni"),
        (7, 2, 8, "gfni"),
        (7, 2, 25, "cldemote"),
        (7, 3, 14, "serialize"),
        (0x8000_0001, 2, 8, "3dnowprefetch"),
        (0x8000_0001, 2, 0, "lahf_lm"),
        (0x8000_0001, 2, 5, "abm"),
        (0x8000_0001, 3, 11, "syscall"),
        (0x8000_0001, 3, 20, "nx"),
        (0x8000_0001, 3, 29, "lm"),
    ];

    /// `/proc/cpuinfo` lists exactly the features cpuid claims, and AT_HWCAP is leaf 1 EDX.
    #[test]
    fn cpuinfo_and_hwcap_match_cpuid() {
        let text = crate::fs::synth::CPUINFO;
        let flags: std::vec::Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("flags\t\t: "))
            .unwrap()
            .split(' ')
            .collect();
        for &(l, r, bit, name) in NAMES {
            let claimed = leaf(l, 0)[r] >> bit & 1 != 0;
            assert_eq!(claimed, flags.contains(&name), "{name}");
        }
        for f in &flags {
            assert!(NAMES.iter().any(|n| n.3 == *f), "{f} has no cpuid bit here");
        }
        for (l, r) in [
            (1, 2),
            (1, 3),
            (7, 1),
            (7, 2),
            (7, 3),
            (0x8000_0001, 2),
            (0x8000_0001, 3),
        ] {
            let named = NAMES
                .iter()
                .filter(|n| n.0 == l && n.1 == r)
                .fold(0, |m, n| m | 1 << n.2);
            assert_eq!(
                leaf(l, 0)[r] & !named,
                0,
                "unnamed bits in leaf {l:#x}[{r}]"
            );
        }
        assert_eq!(crate::abi::auxv::HWCAP, leaf(1, 0)[3] as u64);
    }

    #[test]
    fn vendor_and_features() {
        let l0 = leaf(0, 0);
        let mut v = [0u8; 12];
        v[..4].copy_from_slice(&l0[1].to_le_bytes());
        v[4..8].copy_from_slice(&l0[3].to_le_bytes());
        v[8..].copy_from_slice(&l0[2].to_le_bytes());
        assert_eq!(&v, b"GenuineIntel");
        let l1 = leaf(1, 0);
        assert_eq!((l1[0] >> 8) & 0xf, 6, "family 6");
        assert_eq!(l1[2] & (1 << 27 | 1 << 28), 0, "no OSXSAVE, no AVX");
        assert_eq!(leaf(4, 0)[0] & 0x1f, 1, "L1 data cache");
    }
}
