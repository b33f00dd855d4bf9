//! Timing one workload under every executor: a warm-up run each (at the quick size, so the
//! compile cache of a converted executor is warm without paying for a full run), then rounds in
//! which every executor runs once in turn, so machine noise hits all columns alike. Each
//! executor stops early when another run would exceed its per-cell time budget or the bench's
//! deadline has passed; every run's stdout must equal native's.

use std::time::{Duration, Instant};

use crate::executors::{EXECUTORS, Paths, Prepared, Via};
use crate::process::{self, Outcome, RunError};
use crate::workloads::Workload;

/// The result in one table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Wall and CPU seconds of each measured run.
    Timed { wall: Vec<f64>, cpu: Vec<f64> },
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
    pub runs: usize,
    pub timeout: Duration,
    pub cell_budget: Duration,
    pub deadline: Instant,
}

/// One workload's results.
#[derive(Debug)]
pub struct Row {
    pub workload: &'static Workload,
    /// One cell per entry of [`EXECUTORS`].
    pub cells: Vec<Cell>,
    /// Component sizes per executor (converted executors only).
    pub component_bytes: Vec<Option<u64>>,
}

struct Column {
    prepared: Option<Prepared>,
    spent: Duration,
    last: Duration,
    done: bool,
}

/// Measures `workload` under every executor.
pub fn measure(workload: &'static Workload, quick: bool, paths: &Paths, limits: Limits) -> Row {
    let n = EXECUTORS.len();
    let mut cells = vec![
        Cell::Timed {
            wall: vec![],
            cpu: vec![]
        };
        n
    ];
    let mut columns: Vec<Column> = Vec::with_capacity(n);
    for (i, executor) in EXECUTORS.iter().enumerate() {
        let converted = matches!(executor.via, Via::Oci2wasm { .. });
        let late = converted && Instant::now() >= limits.deadline;
        let prepared = if late {
            cells[i] = Cell::Skipped("bench deadline passed".into());
            None
        } else {
            match executor.prepare(workload, quick, paths) {
                Ok(p) => Some(p),
                Err(e) => {
                    cells[i] = Cell::Failed(e);
                    None
                }
            }
        };
        let done = prepared.is_none();
        columns.push(Column {
            prepared,
            spent: Duration::ZERO,
            last: Duration::ZERO,
            done,
        });
    }
    let component_bytes = columns
        .iter()
        .map(|c| c.prepared.as_ref().and_then(|p| p.component_bytes))
        .collect();

    // Warm-up: page cache, compile cache. Its output is not compared (it is a different size).
    for (i, column) in columns.iter_mut().enumerate() {
        let Some(prepared) = &column.prepared else {
            continue;
        };
        if let Err(failure) = check(process::run(&prepared.warm, &paths.data, limits.timeout)) {
            cells[i] = failure;
            column.done = true;
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
        for (i, column) in columns.iter_mut().enumerate() {
            if column.done {
                continue;
            }
            if round > 0
                && (column.spent + column.last > limits.cell_budget
                    || Instant::now() >= limits.deadline)
            {
                column.done = true;
                continue;
            }
            if i > 0 && reference.is_none() {
                cells[i] = Cell::Skipped("no native output to compare with".into());
                column.done = true;
                continue;
            }
            let prepared = column
                .prepared
                .as_ref()
                .expect("an active column is prepared");
            let outcome = match check(process::run(
                &prepared.measured,
                &paths.data,
                limits.timeout,
            )) {
                Ok(outcome) => outcome,
                Err(failure) => {
                    cells[i] = failure;
                    column.done = true;
                    continue;
                }
            };
            match &reference {
                None => reference = Some(outcome.stdout.clone()),
                Some(expected) if !same_output(expected, &outcome.stdout) => {
                    cells[i] = Cell::WrongOutput;
                    column.done = true;
                    continue;
                }
                Some(_) => {}
            }
            column.last = Duration::from_secs_f64(outcome.wall);
            column.spent += column.last;
            if let Cell::Timed { wall, cpu } = &mut cells[i] {
                wall.push(outcome.wall);
                cpu.push(outcome.cpu);
            }
        }
        if columns.iter().all(|c| c.done) {
            break;
        }
    }
    Row {
        workload,
        cells,
        component_bytes,
    }
}

/// A run's outcome, or the failed cell it makes: not started, timed out, or a non-zero exit.
fn check(result: Result<Outcome, RunError>) -> Result<Outcome, Cell> {
    match result {
        Ok(outcome) if outcome.status.success() => Ok(outcome),
        Ok(outcome) => Err(Cell::Failed(process::failure_line(
            outcome.status,
            &outcome.stderr,
        ))),
        Err(RunError::Spawn(e)) => Err(Cell::Failed(e)),
        Err(RunError::Timeout(t)) => {
            Err(Cell::Failed(format!("timed out after {} s", t.as_secs())))
        }
    }
}

/// Whether an executor's stdout matches native's: byte for byte.
pub fn same_output(native: &[u8], other: &[u8]) -> bool {
    native == other
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `oci2wasm`: `convert` records the tree in NAME.wasm, `run` runs the
    /// program from the tree with the tree as working directory, as the guest would see it.
    /// `extra` is appended to the program's stdout (to provoke "wrong output").
    fn fake_oci2wasm(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join(format!("fake-oci2wasm{}", extra.len()));
        let text = format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             convert) tree=${{2#dir:}}; mkdir -p \"$4\"; echo \"$tree\" > \"$4/$6.wasm\" ;;\n\
             run) tree=$(cat \"$2\"); shift 3; prog=$1; shift; cd \"$tree\" && \"$tree$prog\" \"$@\"; \
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

    fn scratch_paths(name: &str, extra: &str) -> Paths {
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
            oci2wasm: fake_oci2wasm(&out, extra),
        }
    }

    fn limits() -> Limits {
        Limits {
            runs: 3,
            timeout: Duration::from_secs(30),
            cell_budget: Duration::from_secs(30),
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    fn interpreted() -> usize {
        EXECUTORS
            .iter()
            .position(|e| e.name == "interpreted")
            .unwrap()
    }

    #[test]
    fn converted_executor_runs_the_tree_and_matches_native() {
        if !std::path::Path::new(crate::workloads::BUSYBOX).is_file() {
            eprintln!("skipped: no {}", crate::workloads::BUSYBOX);
            return;
        }
        let paths = scratch_paths("ok", "");
        let sha = crate::workloads::WORKLOADS
            .iter()
            .find(|w| w.name == "sha256sum")
            .unwrap();
        let row = measure(sha, false, &paths, limits());
        assert!(
            matches!(&row.cells[0], Cell::Timed { wall, .. } if wall.len() == 3),
            "{:?}",
            row.cells[0]
        );
        let i = interpreted();
        assert!(
            matches!(&row.cells[i], Cell::Timed { wall, .. } if wall.len() == 3),
            "{:?}",
            row.cells[i]
        );
        assert!(row.component_bytes[i].is_some());
        assert!(paths.trees.join("sha256sum/bin/busybox").is_file());
        assert!(paths.trees.join("sha256sum/warm/sha.bin").is_file());
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn converted_executor_with_different_output_is_wrong() {
        if !std::path::Path::new(crate::workloads::BUSYBOX).is_file() {
            eprintln!("skipped: no {}", crate::workloads::BUSYBOX);
            return;
        }
        let paths = scratch_paths("wrong", "extra");
        let awk = crate::workloads::WORKLOADS
            .iter()
            .find(|w| w.name == "awk")
            .unwrap();
        let row = measure(awk, false, &paths, limits());
        assert!(matches!(&row.cells[0], Cell::Timed { .. }));
        assert_eq!(row.cells[interpreted()], Cell::WrongOutput);
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn missing_oci2wasm_fails_the_cell_but_not_the_row() {
        if !std::path::Path::new(crate::workloads::BUSYBOX).is_file() {
            return;
        }
        let mut paths = scratch_paths("missing", "");
        paths.oci2wasm = paths.bin.join("no-such-oci2wasm");
        let t = crate::workloads::WORKLOADS
            .iter()
            .find(|w| w.name == "busybox-true")
            .unwrap();
        let row = measure(t, false, &paths, limits());
        assert!(matches!(&row.cells[0], Cell::Timed { wall, .. } if wall.len() == 12));
        assert!(matches!(&row.cells[interpreted()], Cell::Failed(m) if m.contains("not found")));
        std::fs::remove_dir_all(paths.bin.parent().unwrap()).unwrap();
    }

    #[test]
    fn after_the_deadline_native_runs_once_and_converted_is_skipped() {
        if !std::path::Path::new(crate::workloads::BUSYBOX).is_file() {
            return;
        }
        let paths = scratch_paths("late", "");
        let t = crate::workloads::WORKLOADS
            .iter()
            .find(|w| w.name == "busybox-true")
            .unwrap();
        let row = measure(
            t,
            false,
            &paths,
            Limits {
                deadline: Instant::now(),
                ..limits()
            },
        );
        assert!(matches!(&row.cells[0], Cell::Timed { wall, .. } if wall.len() == 1));
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
    fn check_turns_exit_status_and_stderr_into_a_failed_cell() {
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
    }
}
