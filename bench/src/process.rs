//! Running one command and measuring it: wall-clock time from spawn to exit, the CPU time
//! (user + system) the child used, its exit status and its captured stdout and stderr, with a
//! time limit after which the child is killed.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What one run of a command did.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Seconds from just before spawn to just after the child was reaped.
    pub wall: f64,
    /// User plus system CPU seconds of the child.
    pub cpu: f64,
}

/// Why a run produced no usable [`Outcome`].
#[derive(Debug, PartialEq)]
pub enum RunError {
    /// The program could not be started (missing, not executable, ...).
    Spawn(String),
    /// The child ran longer than the limit and was killed.
    Timeout(Duration),
}

/// Runs `argv` in `cwd` with stdin from /dev/null, capturing stdout and stderr, and kills it
/// after `limit`. Only one child at a time may be measured by the process, since CPU time is
/// taken from the difference in `RUSAGE_CHILDREN` around the wait.
pub fn run(argv: &[OsString], cwd: &Path, limit: Duration) -> Result<Outcome, RunError> {
    let (program, args) = argv
        .split_first()
        .ok_or(RunError::Spawn("empty command".into()))?;
    let (tx, rx) = mpsc::channel();
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let before = children_cpu();
    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| RunError::Spawn(format!("{}: {e}", Path::new(program).display())))?;
    let pid = child.id();
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    thread::spawn(move || {
        let status = child.wait();
        let wall = start.elapsed().as_secs_f64();
        let _ = tx.send((status, wall, children_cpu() - before));
    });
    let (status, wall, cpu) = match rx.recv_timeout(limit) {
        Ok(done) => done,
        Err(_) => {
            // SAFETY: kill(2) with a pid we spawned and have not yet reaped (the waiting thread
            // reaps it only after it dies), so the pid cannot have been reused.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = rx.recv();
            let _ = (out_reader.join(), err_reader.join());
            return Err(RunError::Timeout(limit));
        }
    };
    let status = status.map_err(|e| RunError::Spawn(format!("wait: {e}")))?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Outcome {
        status,
        stdout,
        stderr,
        wall,
        cpu,
    })
}

/// User plus system CPU seconds of all reaped children of this process so far.
fn children_cpu() -> f64 {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the struct we pass, which lives for the call.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The first non-empty line of `stderr`, for a "failed: ..." cell; the exit status if none.
pub fn failure_line(status: ExitStatus, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => line.chars().take(160).collect(),
        None => format!("{status} and nothing on stderr"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn captures_output_and_status() {
        let out = run(
            &argv(&["sh", "-c", "echo hi; echo oops >&2; exit 3"]),
            Path::new("/"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(out.wall > 0.0);
    }

    #[test]
    fn times_out() {
        let err = run(
            &argv(&["sleep", "5"]),
            Path::new("/"),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert_eq!(err, RunError::Timeout(Duration::from_millis(100)));
    }

    #[test]
    fn missing_program() {
        let err = run(
            &argv(&["/nonexistent/prog"]),
            Path::new("/"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, RunError::Spawn(m) if m.contains("/nonexistent/prog")));
    }

    #[test]
    fn failure_line_picks_first_nonempty_stderr_line() {
        let status = run(&argv(&["false"]), Path::new("/"), Duration::from_secs(5))
            .unwrap()
            .status;
        assert_eq!(
            failure_line(status, b"\n  error: no such subcommand 'run'\nmore"),
            "error: no such subcommand 'run'"
        );
        assert!(failure_line(status, b"").contains("exit status: 1"));
    }
}
