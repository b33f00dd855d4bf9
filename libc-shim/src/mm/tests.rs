//! Tests of `mm`.
use super::*;
use crate::mem::testing::host_mem;
use alloc::boxed::Box;

fn mm() -> (crate::mem::testing::HostMem, Mm) {
    let h = host_mem(64 << 20);
    let mut m = Mm::new(Box::new(FixedWindow), 64 << 20);
    m.set_brk_start(0x40_1234);
    m.mmap_base = 0x100_0000;
    (h, m)
}

#[test]
fn mmap_munmap_mprotect_and_brk() {
    let (mut h, mut m) = mm();
    let mem = &mut h.mem;
    let a = m
        .mmap(
            mem,
            0,
            3 * PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
            0,
        )
        .unwrap();
    assert_eq!(a, 0x100_0000);
    mem.write_u64(a + PAGE, 7).unwrap();
    let b = m
        .mmap(mem, 0, 100, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)
        .unwrap();
    assert_eq!(b, a + 3 * PAGE);
    // A hole is reused first-fit; the middle page unmapped faults.
    m.munmap(mem, a + PAGE, PAGE).unwrap();
    assert!(mem.read_u64(a + PAGE).is_err());
    assert_eq!(
        m.mmap(
            mem,
            0,
            PAGE,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
            0
        )
        .unwrap(),
        a + PAGE
    );
    assert_eq!(
        mem.read_u64(a + PAGE).unwrap(),
        0,
        "fresh mappings are zero"
    );
    assert_eq!(
        m.mmap(
            mem,
            a,
            PAGE,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            None,
            0
        ),
        Err(EEXIST)
    );
    m.mprotect(mem, a, PAGE, PROT_READ).unwrap();
    assert!(mem.write_u8(a, 1).is_err());
    assert_eq!(m.mprotect(mem, 0x200_0000, PAGE, PROT_READ), Err(ENOMEM));
    assert!(m.take_changed().len() >= 2);
    // File-backed private mapping copies the bytes in, zero past the end.
    let c = m
        .mmap(
            mem,
            0,
            2 * PAGE,
            PROT_READ,
            MAP_PRIVATE,
            Some((b"/f", b"hello")),
            0,
        )
        .unwrap();
    assert_eq!(mem.slice(c, 6, perm::READ).unwrap(), b"hello\0");
    assert!(m.maps().windows(2).any(|w| w == b"/f"));
    // brk grows within its reserve and fails past it.
    assert_eq!(m.set_brk(mem, 0), 0x40_2000);
    assert_eq!(m.set_brk(mem, 0x40_3000), 0x40_3000);
    mem.write_u8(0x40_2fff, 1).unwrap();
    assert_eq!(m.set_brk(mem, 0x200_0000), 0x40_3000);
    assert_eq!(m.set_brk(mem, 0x40_2000), 0x40_2000);
    assert!(mem.write_u8(0x40_2000, 1).is_err());
}

#[test]
fn mremap_and_madvise_and_stack_guard() {
    let (mut h, mut m) = mm();
    let mem = &mut h.mem;
    let a = m
        .mmap(
            mem,
            0,
            PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
            0,
        )
        .unwrap();
    mem.write_u8(a, 9).unwrap();
    assert_eq!(m.mremap(mem, a, PAGE, 4 * PAGE, 0).unwrap(), a);
    mem.write_u8(a + 3 * PAGE, 1).unwrap();
    m.mmap(
        mem,
        a + 4 * PAGE,
        PAGE,
        PROT_READ,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        None,
        0,
    )
    .unwrap();
    assert_eq!(m.mremap(mem, a, 4 * PAGE, 8 * PAGE, 0), Err(ENOMEM));
    let b = m
        .mremap(mem, a, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE)
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(mem.read_u8(b).unwrap(), 9);
    assert!(mem.read_u8(a).is_err());
    m.madvise(mem, b, PAGE, MADV_DONTNEED).unwrap();
    assert_eq!(mem.read_u8(b).unwrap(), 0);
    let top = m.map_stack(mem, 16 * PAGE).unwrap();
    mem.write_u64(top - 8, 1).unwrap();
    assert!(
        mem.write_u64(top - 16 * PAGE - 8, 1).is_err(),
        "guard page below the stack"
    );
    assert!(!m.maps().windows(5).any(|w| w == b"guard"));
}

#[test]
fn reserved_memory_is_never_mapped() {
    let (mut h, mut m) = mm();
    let mem = &mut h.mem;
    m.reserve(0x3000);
    assert_eq!(
        m.map_fixed(mem, 0x1000, PAGE, PROT_READ, b"", 0),
        Err(ENOMEM)
    );
    assert_eq!(m.mprotect(mem, 0x2000, PAGE, PROT_READ), Err(ENOMEM));
    assert_eq!(m.munmap(mem, 0, PAGE), Err(EINVAL));
    assert!(mem.read_u8(0x2000).is_err());
    m.map_fixed(mem, 0x3000, PAGE, PROT_READ, b"", 0).unwrap();
    assert!(!m.maps().windows(9).any(|w| w == b"[runtime]"));
}
