//! Keeps the compiled-code cache bounded: after a new `.cwasm` is written, the least recently
//! used ones are deleted until the directory holds at most [`limit`] bytes. A cache hit touches
//! its file (`touch`), so "least recently used" means least recently run. Stamp files naming a
//! deleted `.cwasm` are harmless: loading it fails and the component is compiled again.
//!
//! The limit is 4 GiB, or `OCI2WASM_CACHE_MAX_MB` (mebibytes) when set; a lifted busybox compiles
//! to about 60 MB, a runtime-only component to a few.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

const DEFAULT_LIMIT: u64 = 4 << 30;

/// The cache's size limit in bytes.
pub fn limit() -> u64 {
    std::env::var("OCI2WASM_CACHE_MAX_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_LIMIT, |mb| mb.saturating_mul(1 << 20))
}

/// Marks `file` as just used (best effort: a read-only cache still works).
pub fn touch(file: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(file) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Deletes the least recently used `.cwasm` files in `dir`, never `keep`, until the total is at
/// most `limit` bytes. Errors (a file vanishing under a concurrent run) are ignored.
pub fn prune(dir: &Path, keep: &Path, limit: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= limit {
            break;
        }
        if path == keep {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn oldest_go_first_and_the_new_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::now() - Duration::from_secs(1000);
        let mut paths = Vec::new();
        for (i, name) in ["a.cwasm", "b.cwasm", "c.cwasm", "d.cwasm"]
            .iter()
            .enumerate()
        {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![0u8; 100]).unwrap();
            let f = std::fs::File::options().append(true).open(&p).unwrap();
            f.set_modified(t0 + Duration::from_secs(10 * i as u64))
                .unwrap();
            paths.push(p);
        }
        std::fs::write(dir.path().join("note.txt"), vec![0u8; 1000]).unwrap();
        // `a` is the oldest but was just used; `d` was just written.
        touch(&paths[0]);
        prune(dir.path(), &paths[3], 250);
        let left: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(left, [true, false, false, true]);
        assert!(dir.path().join("note.txt").exists());
        prune(dir.path(), &paths[3], 0);
        assert!(!paths[0].exists() && paths[3].exists());
    }
}
