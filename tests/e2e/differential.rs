//! Differential tests: commands run three ways — natively (chrooted into the unpacked image),
//! interpreted (the image converted with `--lift none`) and lifted (`--lift all`) — through
//! `oci2wasm verify`, the same machinery users get, and each converted run must agree with the
//! native one byte for byte in stdout, stderr and exit status.
//!
//! - `busybox`: a table of busybox applet invocations ([`busybox::CASES`]), plus the ones that
//!   still differ because of runtime gaps ([`busybox::KNOWN_FAILING`], asserted to still differ
//!   so that a fix is noticed) and the ones that differ only lifted
//!   ([`busybox::KNOWN_FAILING_LIFTED`], asserted the same way); and the share of instructions
//!   that ran lifted on a few heavier workloads (`OCI2WASM_STATS=1`);
//! - `programs`: the static musl fixture programs, and small fault programs (invalid opcode, null
//!   write, unbounded recursion, unknown syscall) compiled here with `musl-gcc -static`.
//!
//! Each image is converted once per mode and test binary run ([`Converted`]), compiled once by a
//! first run, and passed to `verify` with `--component` (the compiled-code cache lives under the
//! cargo target directory, so later test runs skip the compile while the component is
//! unchanged). `verify` needs root (chroot); so do these tests.

mod busybox;
mod programs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// How a converted image runs its x86-64 code: the two converted sides of every differential case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `convert --lift none`: the interpreter runs everything.
    Interpreted,
    /// `convert --lift all`: every program translated to Wasm ahead of time, the interpreter for
    /// what was not found.
    Lifted,
}

impl Mode {
    /// Both modes, in the order reports list them.
    pub const ALL: [Mode; 2] = [Mode::Interpreted, Mode::Lifted];

    /// The `--lift` value that converts for this mode.
    pub fn lift(self) -> &'static str {
        match self {
            Mode::Interpreted => "none",
            Mode::Lifted => "all",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Interpreted => "interpreted",
            Mode::Lifted => "lifted",
        }
    }
}

/// A converted image, kept for the whole test run.
#[derive(Debug)]
pub struct Converted {
    pub image: String,
    pub mode: Mode,
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
    /// Converts `image` with `--lift MODE` and the `extra` flags to `WORK/NAME-MODE/NAME.wasm`,
    /// and compiles it (one run, so the cases that share it find it in the compiled-code cache
    /// instead of all compiling it at once).
    pub fn new(name: &str, image: &str, mode: Mode, extra: &[&str]) -> Converted {
        let dir = work_dir();
        let cache = dir.join("cache");
        let out = dir.join(format!("{name}-{}", mode.name()));
        let started = Instant::now();
        let result = oci2wasm(&cache)
            .args(["convert", "-q", image, "-o"])
            .arg(&out)
            .args(["--name", name, "--lift", mode.lift()])
            .args(extra)
            .output()
            .expect("run oci2wasm convert");
        assert!(
            result.status.success(),
            "convert {image} --lift {}: {}",
            mode.lift(),
            String::from_utf8_lossy(&result.stderr)
        );
        let component = out.join(format!("{name}.wasm"));
        let converted = Instant::now();
        // A program that does not exist: the component is compiled, then the guest fails at once.
        let warm = oci2wasm(&cache)
            .arg("run")
            .arg(&component)
            .args(["--entrypoint", "/nonexistent/oci2wasm-warm-up"])
            .output()
            .expect("run oci2wasm run");
        assert!(
            !warm.status.success(),
            "warm-up of {name} ({}) should fail: {warm:?}",
            mode.name()
        );
        eprintln!(
            "{name} {}: converted in {:.1} s, compiled in {:.1} s",
            mode.name(),
            (converted - started).as_secs_f64(),
            converted.elapsed().as_secs_f64()
        );
        Converted {
            image: image.to_string(),
            mode,
            component,
            cache,
        }
    }

    /// The busybox fixture, converted once per mode.
    pub fn busybox(mode: Mode) -> &'static Converted {
        static ONCE: [std::sync::OnceLock<Converted>; 2] =
            [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
        ONCE[mode as usize]
            .get_or_init(|| Converted::new("busybox", &oci_ref("busybox"), mode, &[]))
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
        output_within(cmd, VERIFY_TIMEOUT)
    }
}

/// How long one `verify` may take: a converted program that loops fails its case instead of
/// hanging the suite (the slowest case takes a few seconds).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(300);

/// `cmd.output()` (stdin empty), killing the process after `limit`; its stderr then ends with a
/// line saying so.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let pid = child.id().to_string();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let expired = finished.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout);
        if expired {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        expired
    });
    let mut out = child.wait_with_output().expect("wait for oci2wasm");
    let _ = done.send(());
    if watchdog.join().unwrap() {
        out.stderr
            .extend_from_slice(format!("\n(killed after {} s)\n", limit.as_secs()).as_bytes());
    }
    out
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

/// What a differential table holds. Every case runs natively, interpreted and lifted.
#[derive(Debug)]
pub struct Table<'a> {
    /// Must agree with native in every mode.
    pub cases: &'a [Case],
    /// Still differ in every mode (a runtime gap); each must still differ, in each mode.
    pub known_failing: &'a [KnownFailure],
    /// Agree interpreted but still differ lifted (a lifter bug); each must still agree
    /// interpreted and still differ lifted.
    pub known_failing_lifted: &'a [KnownFailure],
}

/// Verifies every case of `table` against each of `converted` (one component per mode; `extra`
/// gives a case's extra `verify` flags from its name) and reports all problems at once.
pub fn check_table(
    converted: &[&Converted],
    table: &Table<'_>,
    extra: impl Fn(&str) -> Vec<String> + Sync,
) {
    struct Job<'a> {
        name: &'static str,
        args: &'static [&'static str],
        stdin: Option<&'static [u8]>,
        converted: &'a Converted,
        /// `None`: must agree; `Some(reason)`: must still differ.
        differs: Option<&'static str>,
    }
    let started = Instant::now();
    let mut jobs = Vec::new();
    for &c in converted {
        for &(name, args, stdin) in table.cases {
            jobs.push(Job {
                name,
                args,
                stdin,
                converted: c,
                differs: None,
            });
        }
        for &(name, args, stdin, reason) in table.known_failing {
            jobs.push(Job {
                name,
                args,
                stdin,
                converted: c,
                differs: Some(reason),
            });
        }
        for &(name, args, stdin, reason) in table.known_failing_lifted {
            let differs = (c.mode == Mode::Lifted).then_some(reason);
            jobs.push(Job {
                name,
                args,
                stdin,
                converted: c,
                differs,
            });
        }
    }
    let verdicts = verify_all(jobs.len(), |i| {
        let job = &jobs[i];
        let extra = extra(job.name);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        job.converted.verify(&extra, job.args, job.stdin)
    });
    let mut problems = Vec::new();
    let mut agree = [0; Mode::ALL.len()];
    for (job, verdict) in jobs.iter().zip(&verdicts) {
        let (name, args, mode) = (job.name, job.args, job.converted.mode.name());
        match (verdict, job.differs) {
            (Ok(()), None) => agree[job.converted.mode as usize] += 1,
            (Err(report), None) => {
                problems.push(format!("case {name} ({args:?}) differs {mode}:\n{report}"));
            }
            (Ok(()), Some(reason)) => problems.push(format!(
                "known failure {name} ({args:?}, {reason}) now agrees {mode}: move it \
                 (to the cases, or from the lifted-only failures)"
            )),
            (Err(_), Some(_)) => {}
        }
    }
    eprintln!(
        "{} cases: {} agree interpreted, {} agree lifted; {} known failures, {} lifted only; \
         {} problems ({:.1} s)",
        table.cases.len(),
        agree[Mode::Interpreted as usize],
        agree[Mode::Lifted as usize],
        table.known_failing.len(),
        table.known_failing_lifted.len(),
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
