//! Execution statistics of lifted code and the interpreter, and the misses (guest addresses in
//! lifted ELFs' code where execution fell into the interpreter).
//!
//! `OCI2WASM_STATS=1` in the WASI environment prints one line on stderr when the guest exits:
//!
//! ```text
//! oci2wasm: stats: N instructions, L lifted (P%), I interpreted, E entries into lifted code; top missed: 0x4012a0 x123, ...
//! ```
//!
//! `L` is `cpu.lifted` (what lifted code counted itself) and `I` every instruction the
//! interpreter ran, including the single steps lifted code asked `oci2wasm_step` for, so lifted
//! code must not count those in `cpu.lifted`. Misses are counted only while a lifted ELF is
//! active, at addresses in its code.
//!
//! `OCI2WASM_RECORD_MISSES=PATH` writes the distinct missed addresses, one lowercase hex
//! `0x...` per line in address order, to the guest path `PATH`, which must lie in a host
//! directory the runner preopened (a mount; the packed image is read-only).

use crate::platform::{HostOpen, Platform};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Distinct miss addresses kept at most (further new addresses are not counted).
pub const MAX_DISTINCT: usize = 1 << 16;
/// Misses named in the stats line.
pub const TOP: usize = 10;

/// What the runner asked for, from `OCI2WASM_*` variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `OCI2WASM_STATS=1`.
    pub stats: bool,
    /// `OCI2WASM_RECORD_MISSES=PATH`.
    pub record_misses: Option<Vec<u8>>,
}

impl Options {
    pub fn from_env(env: &[Vec<u8>]) -> Options {
        let get = |key: &[u8]| {
            env.iter()
                .find_map(|e| e.strip_prefix(key)?.strip_prefix(b"="))
        };
        Options {
            stats: get(b"OCI2WASM_STATS") == Some(b"1"),
            record_misses: get(b"OCI2WASM_RECORD_MISSES")
                .filter(|p| !p.is_empty())
                .map(<[u8]>::to_vec),
        }
    }

    /// Whether misses need counting.
    pub fn track_misses(&self) -> bool {
        self.stats || self.record_misses.is_some()
    }
}

/// Miss counts by address.
#[derive(Clone, Debug, Default)]
pub struct Misses {
    enabled: bool,
    counts: BTreeMap<u64, u64>,
}

impl Misses {
    pub fn new(enabled: bool) -> Misses {
        Misses {
            enabled,
            counts: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, addr: u64) {
        if !self.enabled {
            return;
        }
        if let Some(n) = self.counts.get_mut(&addr) {
            *n += 1;
        } else if self.counts.len() < MAX_DISTINCT {
            self.counts.insert(addr, 1);
        }
    }

    /// The `n` most missed addresses, most first (ties by address).
    pub fn top(&self, n: usize) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = self.counts.iter().map(|(&a, &c)| (a, c)).collect();
        all.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        all.truncate(n);
        all
    }

    /// Distinct addresses, ascending.
    pub fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.keys().copied()
    }
}

/// The stats line (with its newline).
pub fn line(lifted: u64, interpreted: u64, entries: u64, misses: &Misses) -> String {
    let total = lifted + interpreted;
    let percent = if total == 0 {
        0.0
    } else {
        lifted as f64 * 100.0 / total as f64
    };
    let mut s = format!(
        "oci2wasm: stats: {total} instructions, {lifted} lifted ({percent:.1}%), {interpreted} interpreted, {entries} entries into lifted code"
    );
    let top = misses.top(TOP);
    if !top.is_empty() {
        s.push_str("; top missed:");
        for (i, (addr, n)) in top.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            s.push_str(&format!("{sep}{addr:#x} x{n}"));
        }
    }
    s.push('\n');
    s
}

/// Writes the distinct misses to the guest path `path` through the preopen that holds it.
pub fn record(p: &mut dyn Platform, path: &[u8], misses: &Misses) -> Result<(), String> {
    let text: Vec<u8> = misses
        .addresses()
        .flat_map(|a| format!("{a:#x}\n").into_bytes())
        .collect();
    let want = crate::fs::components(path);
    let (fd, rest) = p
        .preopens()
        .into_iter()
        .filter_map(|(fd, guest)| {
            let dir: Vec<&[u8]> = crate::fs::components(&guest)
                .into_iter()
                .filter(|c| *c != b".")
                .collect();
            let n = dir.len();
            (n < want.len() && want[..n] == dir[..]).then_some((n, fd))
        })
        .max()
        .map(|(n, fd)| (fd, want[n..].join(&b'/')))
        .ok_or_else(|| String::from("the path is not in a mounted host directory"))?;
    let how = HostOpen {
        write: true,
        create: true,
        trunc: true,
        follow: true,
        ..HostOpen::default()
    };
    let file = p
        .open(fd, &rest, how)
        .map_err(|e| format!("cannot create it (errno {})", e.0))?;
    let mut done = 0;
    let result = loop {
        if done == text.len() {
            break Ok(());
        }
        match p.pwrite(file, &text[done..], done as u64) {
            Ok(0) => break Err(String::from("short write")),
            Ok(n) => done += n,
            Err(e) => break Err(format!("cannot write it (errno {})", e.0)),
        }
    };
    p.close(file);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_environment() {
        let env = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let o = Options::from_env(&env(&["OCI2WASM_STATS=1", "OCI2WASM_RECORD_MISSES=/m/x"]));
        assert!(o.stats && o.track_misses());
        assert_eq!(o.record_misses.as_deref(), Some(&b"/m/x"[..]));
        let o = Options::from_env(&env(&["OCI2WASM_STATS=0", "OCI2WASM_RECORD_MISSES="]));
        assert_eq!(o, Options::default());
        assert!(!o.track_misses());
    }

    #[test]
    fn line_names_the_top_misses() {
        let mut m = Misses::new(true);
        for (addr, n) in [(0x401000u64, 3), (0x402000, 5), (0x400500, 3)] {
            for _ in 0..n {
                m.add(addr);
            }
        }
        assert_eq!(
            line(300, 100, 7, &m),
            "oci2wasm: stats: 400 instructions, 300 lifted (75.0%), 100 interpreted, 7 entries into lifted code; \
             top missed: 0x402000 x5, 0x400500 x3, 0x401000 x3\n"
        );
        assert_eq!(
            line(0, 0, 0, &Misses::new(true)),
            "oci2wasm: stats: 0 instructions, 0 lifted (0.0%), 0 interpreted, 0 entries into lifted code\n"
        );
        let mut off = Misses::new(false);
        off.add(1);
        assert_eq!(off.top(10), []);
        assert_eq!(
            m.addresses().collect::<Vec<_>>(),
            [0x400500, 0x401000, 0x402000]
        );
    }

    #[test]
    fn misses_are_recorded_in_a_mounted_directory() {
        use crate::platform::testing::TestPlatform;
        let mut m = Misses::new(true);
        m.add(0x402000);
        m.add(0x401000);
        let mut p = TestPlatform {
            mount: Some(b"/out".to_vec()),
            ..TestPlatform::default()
        };
        record(&mut p, b"/out/sub/misses.txt", &m).unwrap();
        assert_eq!(
            p.host.get(&b"sub/misses.txt"[..]),
            Some(&Some(b"0x401000\n0x402000\n".to_vec()))
        );
        assert!(record(&mut p, b"/elsewhere/misses.txt", &m).is_err());
    }
}
