//! Tests of `abi`.
use super::*;

#[test]
fn layouts_match_the_kernel() {
    let st = Stat {
        ino: 7,
        mode: 0o100644,
        size: 10,
        mtime: Timespec { sec: 5, nsec: 6 },
        rdev: makedev(1, 3),
        ..Stat::default()
    };
    let b = st.to_stat();
    assert_eq!(b.len(), 144);
    assert_eq!(b[24..28], 0o100644u32.to_le_bytes());
    assert_eq!(b[88..96], 5i64.to_le_bytes());
    assert_eq!(b[40..48], 0x103u64.to_le_bytes());
    assert_eq!(dev_split(makedev(259, 70000)), (259, 70000));
    let x = st.to_statx();
    assert_eq!((x.len(), x[28], x[128]), (256, 0xa4, 1));
    let mut d = Vec::new();
    assert!(push_dirent64(&mut d, 64, 1, 1, 4, b"abc"));
    assert_eq!(
        (d.len(), d[16], d[19..22].to_vec()),
        (24, 24, b"abc".to_vec())
    );
    assert!(!push_dirent64(&mut d, 30, 1, 2, 4, b"x"));
    assert_eq!(utsname([b"Linux"; 6])[65..70], *b"Linux");
    assert_eq!(errno_name(ENOENT), "ENOENT");
    let sa = SigAction {
        handler: 1,
        flags: 2,
        restorer: 3,
        mask: 4,
    };
    assert_eq!(SigAction::from_bytes(sa.to_bytes()), sa);
    assert_eq!(
        Timespec::from_ns(1_500_000_000).to_ns(),
        Some(1_500_000_000)
    );
}
