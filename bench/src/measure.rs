//! Timing one workload under every executor: a warm-up run each (tiny inputs, so the compile
//! cache of a converted executor is warm without paying for a full run), then rounds in which
//! every executor runs once in turn, so machine noise hits all columns alike. A run is killed at
//! the cap (shrunk to the time left before the bench's deadline), which makes its cell a lower
//! bound; a run longer than `single_over` is not repeated; after the deadline no cell gets
//! another run. Every run's stdout must equal native's.

use std::time::{Duration, Instant};

use crate::convert::Components;
use crate::executors::{EXECUTORS, Paths, Prepared, Via};
use crate::process::{self, Outcome, RunError};
use crate::workloads::Workload;

/// The result in one table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Wall and CPU seconds of each measured run.
    Timed { wall: Vec<f64>, cpu: Vec<f64> },
    /// A run was killed at the cap after this many seconds: the executor needs at least that.
    Capped(f64),
    /// The executor could not prepare or run the program; the first line of its stderr.
    Failed(String),
    /// It ran, but its stdout differed from native's.
    WrongOutput,
    /// Not run (no time left, or no native reference to compare with).
    Skipped(String),
}

/// Limits for one workload's measurement.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Measured runs per cell, at most.
    pub runs: usize,
    /// A run is killed after this long, and its cell reports a lower bound.
    pub cap: Duration,
    /// A cell whose run took longer than this gets no more runs.
    pub single_over: Duration,
    /// After this, no cell gets another run and converted executors are skipped.
    pub deadline: Instant,
}

/// The warm-up's time limit: it includes compiling the component (~1 minute for a lifted
/// busybox on a loaded machine).
const WARM_LIMIT: Duration = Duration::from_secs(600);

/// One workload's results.
#[derive(Debug)]
pub struct Row {
    pub workload: &'static Workload,
    /// One cell per entry of [`EXECUTORS`].
    pub cells: Vec<Cell>,
}

/// Measures `workload` under every executor.
pub fn measure(
    workload: &'static Workload,
    quick: bool,
    paths: &Paths,
    components: &Components,
    limits: Limits,
) -> Row {
    let mut cells = vec![
        Cell::Timed {
            wall: vec![],
            cpu: vec![]
        };
        EXECUTORS.len()
    ];
    // The prepared commands of the columns still running.
    let mut active: Vec<Option<Prepared>> = EXECUTORS
        .iter()
        .zip(&mut cells)
        .map(|(executor, cell)| {
            let converted = matches!(executor.via, Via::Oci2wasm { .. });
            if converted && Instant::now() >= limits.deadline {
                *cell = Cell::Skipped("bench deadline passed".into());
                return None;
            }
            executor
                .prepare(workload, quick, paths, components)
                .map_err(|e| *cell = Cell::Failed(e))
                .ok()
        })
        .collect();

    // Warm-up: page cache, compile cache. Its output is not compared (it is a different size).
    for (slot, cell) in active.iter_mut().zip(&mut cells) {
        let Some(prepared) = slot else { continue };
        match check(process::run(&prepared.warm, &paths.data, WARM_LIMIT)) {
            Ok(_) => {}
            Err(Cell::Capped(t)) => {
                *cell = Cell::Failed(format!("warm-up timed out after {t:.0} s"));
                *slot = None;
            }
            Err(failure) => {
                *cell = failure;
                *slot = None;
            }
        }
    }

    // Start-up probes take milliseconds: four times the runs steady their medians.
    let runs = if workload.startup {
        limits.runs * 4
    } else {
        limits.runs
    };
    let mut reference: Option<Vec<u8>> = None;
    for round in 0..runs {
        for (i, slot) in active.iter_mut().enumerate() {
            let Some(prepared) = slot else { continue };
            if round > 0 && Instant::now() >= limits.deadline {
                *slot = None;
                continue;
            }
            if i > 0 && reference.is_none() {
                cells[i] = Cell::Skipped("no native output to compare with".into());
                *slot = None;
                continue;
            }
            // Near the deadline the cap shrinks to the time left (but not below `single_over`),
            // so a slow run cannot carry the bench far past it.
            let left = limits.deadline.saturating_duration_since(Instant::now());
            let limit = limits.cap.min(left.max(limits.single_over));
            let outcome = match check(process::run(&prepared.measured, &paths.data, limit)) {
                Ok(outcome) => outcome,
                Err(failure) => {
                    cells[i] = failure;
                    *slot = None;
                    continue;
                }
            };
            match &reference {
                None => reference = Some(outcome.stdout.clone()),
                Some(expected) if !same_output(expected, &outcome.stdout) => {
                    cells[i] = Cell::WrongOutput;
                    *slot = None;
                    continue;
                }
                Some(_) => {}
            }
            if let Cell::Timed { wall, cpu } = &mut cells[i] {
                wall.push(outcome.wall);
                cpu.push(outcome.cpu);
            }
            if outcome.wall > limits.single_over.as_secs_f64() {
                *slot = None;
            }
        }
        if active.iter().all(Option::is_none) {
            break;
        }
    }
    Row { workload, cells }
}

/// A run's outcome, or the cell it makes: capped when it was killed at the time limit, failed
/// when it did not start or exited non-zero.
fn check(result: Result<Outcome, RunError>) -> Result<Outcome, Cell> {
    match result {
        Ok(outcome) if outcome.status.success() => Ok(outcome),
        Ok(outcome) => Err(Cell::Failed(process::failure_line(
            outcome.status,
            &outcome.stderr,
        ))),
        Err(RunError::Spawn(e)) => Err(Cell::Failed(e)),
        Err(RunError::Timeout(t)) => Err(Cell::Capped(t.as_secs_f64())),
    }
}

/// Whether an executor's stdout matches native's: byte for byte.
pub fn same_output(native: &[u8], other: &[u8]) -> bool {
    native == other
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{BUSYBOX, WORKLOADS};

    /// A stand-in for `oci2wasm`: `convert` records the tree in NAME.wasm, `run` sleeps `delay`
    /// seconds, then runs the program from the tree in the mounted directory (the tree without
    /// a mount), as the guest would see it. `extra` is appended to the program's stdout (to
    /// provoke "wrong output").
    fn fake_oci2wasm(dir: &std::path::Path, extra: &str, delay: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("fake-oci2wasm");
        let text = format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             convert) tree=${{2#dir:}}; mkdir -p \"$4\"; echo \"$tree\" > \"$4/$6.wasm\" ;;\n\
             run) tree=$(cat \"$2\"); shift 2; cwd=$tree; \
             case \"$1\" in --mount=*) m=${{1#--mount=}}; cwd=${{m%%:*}}; shift ;; esac; \
             shift; prog=$1; shift; sleep {delay}; cd \"$cwd\" && \"$tree$prog\" \"$@\"; \
             s=$?; printf '{extra}'; exit $s ;;\n\
             *) echo \"unknown subcommand $1\" >&2; exit 2 ;;\nesac\n"
        );
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A child forked by another test thread while the script was open for writing keeps
        // the file busy (ETXTBSY) until it execs: wait until the script can be executed.
        for _ in 0..100 {
            match std::process::Command::new(&script).arg("probe").output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
        script
    }

    fn scratch_paths(name: &str, extra: &str, delay: &str) -> Paths {
        let out = std::env::temp_dir().join(format!("bench-measure-{name}-{}", std::process::id()));
        let tiny = crate::inputs::Sizes {
            sha_bytes: 10_000,
            gzip_bytes: 10_000,
            sort_lines: 100,
            awk_lines: 100,
        };
        crate::inputs::generate(&out.join("data"), tiny).unwrap();
        crate::inputs::generate(&out.join("data/warm"), tiny).unwrap();
        std::fs::create_dir_all(out.join("bin")).unwrap();
        Paths {
            bin: out.join("bin"),
            data: out.join("data"),
            trees: out.join("trees"),
            components: out.join("components"),
            oci2wasm: fake_oci2wasm(&out, extra, delay),
        }
    }

    fn limits() -> Limits {
        Limits {
            runs: 3,
            cap: Duration::from_secs(30),
            single_over: Duration::from_secs(30),
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    fn workload(name: &str) -> &'static Workload {
        WORKLOADS.iter().find(|w| w.name == name).unwrap()
    }

    fn interpreted() -> usize {
        EXECUTORS
            .iter()
            .position(|e| e.name == "interpreted")
            .unwrap()
    }

    /// Converts (with the fake) and measures `name`.
    fn measure_busybox(name: &str, paths: &Paths, limits: Limits) -> Row {
        let w = workload(name);
        let components = Components::convert(&[w], paths);
        measure(w, false, paths, &components, limits)
    }

    fn runs(cell: &Cell) -> Option<usize> {
        match cell {
            Cell::Timed { wall, .. } => Some(wall.len()),
            _ => None,
        }
    }

    #[test]
    fn converted_executor_runs_the_program_in_the_mounted_inputs() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            eprintln!("skipped: no {BUSYBOX}");
            return;
        }
        let paths = scratch_paths("ok", "", "0");
        let row = measure_busybox("sha256sum", &paths, limits());
        assert_eq!(runs(&row.cells[0]), Some(3), "{:?}", row.cells[0]);
        let i = interpreted();
        assert_eq!(runs(&row.cells[i]), Some(3), "{:?}", row.cells[i]);
        assert!(paths.trees.join("busybox/bin/busybox").is_file());
        assert!(paths.trees.join("busybox/data").is_dir());
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn converted_executor_with_different_output_is_wrong() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            return;
        }
        let paths = scratch_paths("wrong", "extra", "0");
        let row = measure_busybox("awk", &paths, limits());
        assert!(matches!(&row.cells[0], Cell::Timed { .. }));
        assert_eq!(row.cells[interpreted()], Cell::WrongOutput);
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_run_past_the_cap_makes_a_capped_cell() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            return;
        }
        let paths = scratch_paths("capped", "", "2");
        let limits = Limits {
            cap: Duration::from_millis(700),
            ..limits()
        };
        let row = measure_busybox("sha256sum", &paths, limits);
        assert_eq!(runs(&row.cells[0]), Some(3));
        assert_eq!(row.cells[interpreted()], Cell::Capped(0.7));
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_slow_run_is_not_repeated() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            return;
        }
        let paths = scratch_paths("single", "", "0.3");
        let limits = Limits {
            single_over: Duration::from_millis(200),
            ..limits()
        };
        let row = measure_busybox("sha256sum", &paths, limits);
        assert_eq!(runs(&row.cells[0]), Some(3));
        assert_eq!(runs(&row.cells[interpreted()]), Some(1));
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn near_the_deadline_the_cap_shrinks_to_the_time_left() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            return;
        }
        // The warm-up sleeps past the deadline, so the measured run gets `single_over`.
        let paths = scratch_paths("deadline-cap", "", "3");
        let limits = Limits {
            single_over: Duration::from_millis(700),
            deadline: Instant::now() + Duration::from_millis(1500),
            ..limits()
        };
        let row = measure_busybox("sha256sum", &paths, limits);
        assert_eq!(runs(&row.cells[0]), Some(1));
        assert_eq!(row.cells[interpreted()], Cell::Capped(0.7));
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn missing_oci2wasm_fails_the_cell_but_not_the_row() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            return;
        }
        let mut paths = scratch_paths("missing", "", "0");
        paths.oci2wasm = paths.bin.join("no-such-oci2wasm");
        let row = measure_busybox("busybox-true", &paths, limits());
        assert_eq!(runs(&row.cells[0]), Some(12));
        assert!(matches!(&row.cells[interpreted()], Cell::Failed(m) if m.contains("not found")));
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn after_the_deadline_native_runs_once_and_converted_is_skipped() {
        if !std::path::Path::new(BUSYBOX).is_file() {
            return;
        }
        let paths = scratch_paths("late", "", "0");
        let limits = Limits {
            deadline: Instant::now(),
            ..limits()
        };
        let row = measure_busybox("busybox-true", &paths, limits);
        assert_eq!(runs(&row.cells[0]), Some(1));
        assert!(matches!(&row.cells[interpreted()], Cell::Skipped(m) if m.contains("deadline")));
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn output_comparison_is_exact() {
        assert!(same_output(
            b"fib(41) = 165580141\n",
            b"fib(41) = 165580141\n"
        ));
        assert!(!same_output(
            b"fib(41) = 165580141\n",
            b"fib(41) = 165580141"
        ));
        assert!(!same_output(b"-0.169075164\n", b"-0.169075165\n"));
        assert!(same_output(b"", b""));
    }

    #[test]
    fn check_turns_exit_status_stderr_and_timeouts_into_cells() {
        let argv: Vec<std::ffi::OsString> = [
            "sh",
            "-c",
            "echo 'error: unrecognized subcommand run' >&2; exit 2",
        ]
        .iter()
        .map(Into::into)
        .collect();
        let result = process::run(&argv, std::path::Path::new("/"), Duration::from_secs(10));
        assert_eq!(
            check(result).unwrap_err(),
            Cell::Failed("error: unrecognized subcommand run".into())
        );
        let missing = process::run(
            &["/no/such/oci2wasm".into()],
            std::path::Path::new("/"),
            Duration::from_secs(1),
        );
        assert!(matches!(check(missing), Err(Cell::Failed(m)) if m.contains("/no/such/oci2wasm")));
        let slow = process::run(
            &["sleep".into(), "5".into()],
            std::path::Path::new("/"),
            Duration::from_millis(200),
        );
        assert_eq!(check(slow).unwrap_err(), Cell::Capped(0.2));
    }
}
