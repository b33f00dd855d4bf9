//! Differential tests: commands run natively (chrooted into the unpacked image) and converted (on
//! the interpreter) through `oci2wasm verify`, the same machinery users get, and must agree byte
//! for byte in stdout, stderr and exit status.
//!
//! - `busybox`: a table of busybox applet invocations ([`busybox::CASES`]), plus the ones that
//!   still differ because of runtime gaps ([`busybox::KNOWN_FAILING`], asserted to still differ
//!   so that a fix is noticed);
//! - `programs`: the static musl fixture programs, and small fault programs (invalid opcode, null
//!   write, unbounded recursion, unknown syscall) compiled here with `musl-gcc -static`.
//!
//! Each image is converted once per test binary run ([`Converted`]) and passed to `verify` with
//! `--component`, so only the first run of a component compiles it (the compiled-code cache lives
//! under the cargo target directory). `verify` needs root (chroot); so do these tests.

mod busybox;
mod programs;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::support::{oci_ref, oci2wasm};

/// One invocation: a name, the arguments after `--` (replacing the image's Cmd), and stdin.
pub type Case = (&'static str, &'static [&'static str], Option<&'static [u8]>);

/// A case that still differs, with the reason.
pub type KnownFailure = (
    &'static str,
    &'static [&'static str],
    Option<&'static [u8]>,
    &'static str,
);

/// A converted image, kept for the whole test run.
#[derive(Debug)]
pub struct Converted {
    pub image: String,
    pub component: PathBuf,
    /// The compiled-code and blob cache `verify` uses.
    pub cache: PathBuf,
}

/// Where converted components and the shared cache live (kept between runs, so compiled code is
/// reused when the runtime did not change).
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Converted {
    /// Converts `image` to `WORK/NAME/NAME.wasm`.
    pub fn new(name: &str, image: &str) -> Converted {
        let dir = work_dir();
        let cache = dir.join("cache");
        let out = dir.join(name);
        let result = oci2wasm(&cache)
            .args(["convert", "-q", image, "-o"])
            .arg(&out)
            .args(["--name", name])
            .output()
            .expect("run oci2wasm convert");
        assert!(
            result.status.success(),
            "convert {image}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        Converted {
            image: image.to_string(),
            component: out.join(format!("{name}.wasm")),
            cache,
        }
    }

    /// The busybox fixture, converted once.
    pub fn busybox() -> &'static Converted {
        static ONCE: std::sync::OnceLock<Converted> = std::sync::OnceLock::new();
        ONCE.get_or_init(|| Converted::new("busybox", &oci_ref("busybox")))
    }

    /// `oci2wasm verify -q --component C IMAGE EXTRA... [--stdin F] -- ARGS`.
    pub fn verify(&self, extra: &[&str], args: &[&str], stdin: Option<&[u8]>) -> Output {
        let stdin_file = stdin.map(|bytes| {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            std::io::Write::write_all(&mut file, bytes).unwrap();
            file
        });
        let mut cmd = oci2wasm(&self.cache);
        cmd.args(["verify", "-q", "--component"])
            .arg(&self.component)
            .arg(&self.image)
            .args(extra);
        if let Some(file) = &stdin_file {
            cmd.arg("--stdin").arg(file.path());
        }
        cmd.arg("--").args(args);
        cmd.output().expect("run oci2wasm verify")
    }
}

/// The result of verifying one case: `Ok` when both sides agree, else the report.
pub type Verdict = Result<(), String>;

/// Runs `verify(i)` for `i` in `0..count`, a few at a time, and returns the verdicts in order
/// (`Ok` when verify exits 0, else its report).
pub fn verify_all(count: usize, verify: impl Fn(usize) -> Output + Sync) -> Vec<Verdict> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let mut verdicts: Vec<Option<Verdict>> = vec![None; count];
    let results = std::sync::Mutex::new(&mut verdicts);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let out = verify(i);
                    let verdict = match out.status.code() {
                        Some(0) => Ok(()),
                        _ => Err(format!(
                            "{}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        )),
                    };
                    results.lock().unwrap()[i] = Some(verdict);
                }
            });
        }
    });
    verdicts.into_iter().map(Option::unwrap).collect()
}

/// Verifies `cases` and `known_failing` (name, args, stdin, reason): every case must agree, every
/// known failure must still differ. Reports all problems at once.
pub fn check_table(converted: &Converted, cases: &[Case], known_failing: &[KnownFailure]) {
    let started = Instant::now();
    let verdicts = verify_all(cases.len(), |i| {
        converted.verify(&[], cases[i].1, cases[i].2)
    });
    let known_verdicts = verify_all(known_failing.len(), |i| {
        converted.verify(&[], known_failing[i].1, known_failing[i].2)
    });
    let mut problems = Vec::new();
    for ((name, args, _), verdict) in cases.iter().zip(&verdicts) {
        if let Err(report) = verdict {
            problems.push(format!("case {name} ({args:?}) differs:\n{report}"));
        }
    }
    for ((name, args, _, reason), verdict) in known_failing.iter().zip(&known_verdicts) {
        if verdict.is_ok() {
            problems.push(format!(
                "known failure {name} ({args:?}, {reason}) now agrees: move it to CASES"
            ));
        }
    }
    eprintln!(
        "{} cases agree, {} known failures, {} problems ({:.1} s)",
        verdicts.iter().filter(|v| v.is_ok()).count(),
        known_failing.len(),
        problems.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}
