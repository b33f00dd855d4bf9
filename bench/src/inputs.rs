//! Deterministic input files for the busybox workloads, generated at bench start from a fixed
//! PRNG seed, so every executor (and every machine) reads the same bytes:
//!
//! - `sha.bin`: pseudo-random bytes (64 MiB; 4 MiB quick) for `sha256sum`;
//! - `gzip.txt`: lines of pseudo-words (4 MiB; 256 KiB quick), compressible like real text;
//! - `sort.txt`: `word number` lines (500 K; 64 Ki quick);
//! - `awk.txt`: `key<TAB>int<TAB>int` lines (200 K, ~17,000 distinct keys; 32 Ki quick).
//!
//! The warm-up runs read a tiny set ([`WARM`]) in `warm/`. The default sizes keep each native
//! run near 0.2-0.6 s (see `bench/README.md` for why gzip, sort and awk are below the issue's
//! nominal sizes).
//!
//! Every file gets the same fixed modification time, since gzip writes it into its header.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

/// The modification time of every generated file: 2000-01-01T00:00:00Z.
const MTIME: Duration = Duration::from_secs(946_684_800);

/// How much input to generate.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub sha_bytes: usize,
    pub gzip_bytes: usize,
    pub sort_lines: usize,
    pub awk_lines: usize,
}

pub const FULL: Sizes = Sizes {
    sha_bytes: 64 << 20,
    gzip_bytes: 4 << 20,
    sort_lines: 500_000,
    awk_lines: 200_000,
};

pub const QUICK: Sizes = Sizes {
    sha_bytes: 4 << 20,
    gzip_bytes: 256 << 10,
    sort_lines: 64 << 10,
    awk_lines: 32 << 10,
};

pub const WARM: Sizes = Sizes {
    sha_bytes: 64 << 10,
    gzip_bytes: 16 << 10,
    sort_lines: 1 << 10,
    awk_lines: 1 << 10,
};

/// xorshift64*: small, fast and the same everywhere.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A pseudo-word of one to four syllables, skewed toward the common syllables.
    fn word(&mut self, out: &mut Vec<u8>) {
        const SYLLABLES: [&str; 16] = [
            "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "do", "an", "el", "or", "us",
            "qua", "tre",
        ];
        for _ in 0..=self.below(4) {
            let s = self.below(16);
            out.extend_from_slice(SYLLABLES[(s * s / 16) as usize].as_bytes());
        }
    }
}

/// Writes the four input files for `sizes` into `dir` (created if needed).
pub fn generate(dir: &Path, sizes: Sizes) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    write(dir, "sha.bin", |out| {
        let mut block = vec![0u8; 1 << 16];
        let mut left = sizes.sha_bytes;
        while left > 0 {
            for chunk in block.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
            }
            let n = left.min(block.len());
            out.write_all(&block[..n])?;
            left -= n;
        }
        Ok(())
    })?;
    write(dir, "gzip.txt", |out| {
        let mut line = Vec::new();
        let mut written = 0;
        while written < sizes.gzip_bytes {
            line.clear();
            for i in 0..8 + rng.below(8) {
                if i > 0 {
                    line.push(b' ');
                }
                rng.word(&mut line);
            }
            line.push(b'\n');
            let n = line.len().min(sizes.gzip_bytes - written);
            out.write_all(&line[..n])?;
            written += n;
        }
        Ok(())
    })?;
    write(dir, "sort.txt", |out| {
        let mut line = Vec::new();
        for _ in 0..sizes.sort_lines {
            line.clear();
            rng.word(&mut line);
            write!(line, " {}", rng.below(1_000_000))?;
            line.push(b'\n');
            out.write_all(&line)?;
        }
        Ok(())
    })?;
    write(dir, "awk.txt", |out| {
        let mut line = Vec::new();
        for _ in 0..sizes.awk_lines {
            line.clear();
            rng.word(&mut line);
            writeln!(line, "\t{}\t{}", rng.below(1000), rng.below(100_000))?;
            out.write_all(&line)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    fill(&mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.set_modified(SystemTime::UNIX_EPOCH + MTIME)
        .with_context(|| format!("setting the mtime of {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let tiny = Sizes {
            sha_bytes: 1000,
            gzip_bytes: 5000,
            sort_lines: 100,
            awk_lines: 50,
        };
        let base = std::env::temp_dir().join(format!("bench-inputs-test-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        generate(&a, tiny).unwrap();
        generate(&b, tiny).unwrap();
        for name in ["sha.bin", "gzip.txt", "sort.txt", "awk.txt"] {
            let x = std::fs::read(a.join(name)).unwrap();
            assert_eq!(
                x,
                std::fs::read(b.join(name)).unwrap(),
                "{name} differs between runs"
            );
        }
        assert_eq!(std::fs::metadata(a.join("sha.bin")).unwrap().len(), 1000);
        assert_eq!(std::fs::metadata(a.join("gzip.txt")).unwrap().len(), 5000);
        let sort = std::fs::read_to_string(a.join("sort.txt")).unwrap();
        assert_eq!(sort.lines().count(), 100);
        let awk = std::fs::read_to_string(a.join("awk.txt")).unwrap();
        assert_eq!(awk.lines().count(), 50);
        assert!(awk.lines().all(|l| l.split('\t').count() == 3));
        let mtime = std::fs::metadata(a.join("awk.txt"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, SystemTime::UNIX_EPOCH + MTIME);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
