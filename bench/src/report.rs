//! Turning rows of cells into the report: a markdown table of slowdowns vs native with the
//! geomean per executor (a lower bound when a capped cell is in it), start-up times, component
//! sizes, and a CSV with every number.

use std::fmt::Write as _;

use crate::measure::{Cell, Row};
use crate::stats::{format_bytes, format_ratio, format_seconds, geomean, median};

/// What the report needs besides the rows.
#[derive(Debug)]
pub struct Context<'a> {
    /// Column names, in order; the first is native.
    pub executors: &'a [&'a str],
    /// Which executors make components (for the size table).
    pub converted: &'a [bool],
    /// Requested runs per cell.
    pub runs: usize,
    /// Seconds after which a run was not repeated.
    pub single_over: f64,
    /// Binary and component sizes per program.
    pub sizes: &'a [ProgramSize],
}

/// The sizes of one program: its native binary and its component per executor.
#[derive(Debug)]
pub struct ProgramSize {
    pub program: &'static str,
    pub native: u64,
    /// One entry per executor: `None` for those that make no component or failed to.
    pub components: Vec<Option<u64>>,
}

/// A cell's slowdown vs native.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slowdown {
    /// Median over native's median.
    Exact(f64),
    /// The run was killed at the cap: the cap over native's median, a lower bound.
    AtLeast(f64),
}

impl Slowdown {
    pub fn value(self) -> f64 {
        match self {
            Slowdown::Exact(v) | Slowdown::AtLeast(v) => v,
        }
    }

    /// `12.3x`, or `>150x` for a lower bound.
    pub fn text(self) -> String {
        match self {
            Slowdown::Exact(v) => format_ratio(v),
            Slowdown::AtLeast(v) => format!(">{}", format_ratio(v)),
        }
    }
}

/// The median wall time of a timed cell with at least one run.
pub fn median_wall(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Timed { wall, .. } => median(wall),
        _ => None,
    }
}

/// A cell's slowdown vs native: median over median, or the cap over native's median for a
/// capped cell.
pub fn slowdown(row: &Row, column: usize) -> Option<Slowdown> {
    let native = median_wall(&row.cells[0])?;
    match &row.cells[column] {
        Cell::Capped(cap) => Some(Slowdown::AtLeast(cap / native)),
        cell => Some(Slowdown::Exact(median_wall(cell)? / native)),
    }
}

/// The per-executor geomean of the slowdowns of the non-start-up rows (a lower bound when one
/// of them is), and how many rows it has.
pub fn geomeans(rows: &[Row], columns: usize) -> Vec<(Option<Slowdown>, usize)> {
    (0..columns)
        .map(|c| {
            let slowdowns: Vec<Slowdown> = rows
                .iter()
                .filter(|r| !r.workload.startup)
                .filter_map(|r| slowdown(r, c))
                .collect();
            let values: Vec<f64> = slowdowns.iter().map(|s| s.value()).collect();
            let bound = slowdowns.iter().any(|s| matches!(s, Slowdown::AtLeast(_)));
            let g = geomean(&values).map(|g| {
                if bound {
                    Slowdown::AtLeast(g)
                } else {
                    Slowdown::Exact(g)
                }
            });
            (g, slowdowns.len())
        })
        .collect()
}

/// A cell's text. `value` is what a timed or capped cell shows (a slowdown or a time).
fn cell_text(cell: &Cell, value: Option<String>, runs: usize) -> String {
    let text = match (cell, value) {
        (Cell::Timed { wall, .. }, Some(v)) if wall.len() < runs => {
            let n = wall.len();
            format!("{v} ({n} run{})", if n == 1 { "" } else { "s" })
        }
        (Cell::Timed { .. } | Cell::Capped(_), Some(v)) => v,
        (Cell::Timed { .. } | Cell::Capped(_), None) => "–".to_string(),
        (Cell::Failed(why), _) => {
            let short: String = why.chars().take(90).collect();
            format!(
                "failed: {short}{}",
                if why.chars().count() > 90 { "…" } else { "" }
            )
        }
        (Cell::WrongOutput, _) => "wrong output".to_string(),
        (Cell::Skipped(why), _) => format!("skipped: {why}"),
    };
    text.replace('|', "\\|")
}

/// What a cell shows in a column of times: the median, or the cap with `>`.
fn time_value(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Capped(cap) => Some(format!(">{cap} s (capped)")),
        cell => median_wall(cell).map(format_seconds),
    }
}

/// What a cell shows in a column of slowdowns.
fn slowdown_value(row: &Row, c: usize) -> Option<String> {
    match (&row.cells[c], slowdown(row, c)) {
        (Cell::Capped(cap), Some(s)) => Some(format!("{} (capped at {cap} s)", s.text())),
        (_, Some(s)) => Some(s.text()),
        (cell, None) => time_value(cell),
    }
}

/// The markdown report: slowdowns, start-up times and sizes.
pub fn markdown(rows: &[Row], ctx: &Context) -> String {
    let header = |first: &str, names: &[&str]| {
        let mut s = format!("| {first} | {} |\n|---|", names.join(" | "));
        s.push_str(&"--:|".repeat(names.len()));
        s.push('\n');
        s
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Slowdown vs native (wall time, median of up to {} runs; native column: seconds)\n",
        ctx.runs
    );
    out.push_str(&header("workload", ctx.executors));
    for row in rows.iter().filter(|r| !r.workload.startup) {
        let _ = write!(out, "| {} |", row.workload.name);
        for (c, cell) in row.cells.iter().enumerate() {
            let value = if c == 0 {
                time_value(cell)
            } else {
                slowdown_value(row, c)
            };
            let _ = write!(out, " {} |", cell_text(cell, value, ctx.runs));
        }
        out.push('\n');
    }
    let benchmarks = rows.iter().filter(|r| !r.workload.startup).count();
    out.push_str("| **geomean** |");
    for (c, (g, n)) in geomeans(rows, ctx.executors.len()).into_iter().enumerate() {
        let text = match g {
            _ if c == 0 => String::new(),
            Some(g) if n == benchmarks => format!("**{}**", g.text()),
            Some(g) => format!("**{}** ({n} of {benchmarks})", g.text()),
            None => "–".to_string(),
        };
        let _ = write!(out, " {text} |");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "\n`(N runs)`: fewer than {} runs, because a run took over {} s (one run) or the bench \
         deadline passed. `>Nx (capped at T)`: the run was killed after T, so the slowdown is at \
         least N; a geomean marked `>` includes such a lower bound.",
        ctx.runs, ctx.single_over
    );

    if rows.iter().any(|r| r.workload.startup) {
        out.push_str("\n### Start-up (median wall time)\n\n");
        out.push_str(&header("program", ctx.executors));
        for row in rows.iter().filter(|r| r.workload.startup) {
            let _ = write!(out, "| {} |", row.workload.name);
            for cell in &row.cells {
                let _ = write!(
                    out,
                    " {} |",
                    cell_text(cell, time_value(cell), ctx.runs * 4)
                );
            }
            out.push('\n');
        }
    }

    let converted: Vec<usize> = (0..ctx.executors.len())
        .filter(|&c| ctx.converted[c])
        .collect();
    if !converted.is_empty() {
        out.push_str("\n### Component size (the inputs are mounted, not built in)\n\n");
        let mut names = vec!["native binary"];
        names.extend(converted.iter().map(|&c| ctx.executors[c]));
        out.push_str(&header("program", &names));
        for size in ctx.sizes {
            let _ = write!(out, "| {} | {} |", size.program, format_bytes(size.native));
            for &c in &converted {
                let text = match size.components[c] {
                    Some(bytes) if size.native > 0 => format!(
                        "{} ({} of binary)",
                        format_bytes(bytes),
                        format_ratio(bytes as f64 / size.native as f64)
                    ),
                    Some(bytes) => format_bytes(bytes),
                    None => "–".to_string(),
                };
                let _ = write!(out, " {text} |");
            }
            out.push('\n');
        }
    }
    out
}

/// The CSV: one line per workload and executor.
pub fn csv(rows: &[Row], ctx: &Context) -> String {
    let mut out = String::from(
        "workload,executor,status,runs,median_wall_s,median_cpu_s,ratio_wall,ratio_cpu,\
         min_ratio_wall,native_bytes,component_bytes,detail\n",
    );
    let num = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    for row in rows {
        let size = ctx
            .sizes
            .iter()
            .find(|s| s.program == row.workload.program.name());
        let native_cpu = match &row.cells[0] {
            Cell::Timed { cpu, .. } => median(cpu),
            _ => None,
        };
        for (c, cell) in row.cells.iter().enumerate() {
            let (status, runs, cpu, detail) = match cell {
                Cell::Timed { wall, cpu } => ("ok", wall.len(), median(cpu), String::new()),
                Cell::Capped(cap) => ("capped", 0, None, format!("killed after {cap} s")),
                Cell::Failed(why) => ("failed", 0, None, why.clone()),
                Cell::WrongOutput => ("wrong output", 0, None, String::new()),
                Cell::Skipped(why) => ("skipped", 0, None, why.clone()),
            };
            let ratio_cpu = cpu
                .zip(native_cpu)
                .filter(|(_, n)| *n > 0.0)
                .map(|(c, n)| c / n);
            let (exact, bound) = match slowdown(row, c) {
                Some(Slowdown::Exact(v)) => (Some(v), None),
                Some(Slowdown::AtLeast(v)) => (None, Some(v)),
                None => (None, None),
            };
            let native = size.map(|s| s.native.to_string()).unwrap_or_default();
            let component = size
                .and_then(|s| s.components[c])
                .map(|b| b.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{status},{runs},{},{},{},{},{},{native},{component},{}",
                row.workload.name,
                ctx.executors[c],
                num(median_wall(cell)),
                num(cpu),
                num(exact),
                num(ratio_cpu),
                num(bound),
                csv_field(&detail),
            );
        }
    }
    out
}

/// Quotes a CSV field when it holds a comma, quote or newline.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::WORKLOADS;

    fn workload(name: &str) -> &'static crate::workloads::Workload {
        WORKLOADS.iter().find(|w| w.name == name).unwrap()
    }

    fn timed(wall: &[f64]) -> Cell {
        Cell::Timed {
            wall: wall.to_vec(),
            cpu: wall.to_vec(),
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                workload: workload("fib"),
                cells: vec![
                    timed(&[0.5, 0.4, 0.6]),
                    timed(&[2.0, 2.2, 1.8]),
                    Cell::Failed("error: a|b".into()),
                ],
            },
            Row {
                workload: workload("nbody"),
                cells: vec![timed(&[1.0, 1.0, 1.0]), timed(&[32.0]), Cell::WrongOutput],
            },
            Row {
                workload: workload("sort"),
                cells: vec![
                    timed(&[0.25, 0.25, 0.25]),
                    timed(&[1.0, 1.0, 1.0]),
                    Cell::Capped(40.0),
                ],
            },
            Row {
                workload: workload("true"),
                cells: vec![
                    timed(&[0.0004; 12]),
                    timed(&[0.003; 12]),
                    Cell::Skipped("bench deadline passed".into()),
                ],
            },
        ]
    }

    fn sizes() -> Vec<ProgramSize> {
        vec![
            ProgramSize {
                program: "fib",
                native: 33_000,
                components: vec![None, None, None],
            },
            ProgramSize {
                program: "nbody",
                native: 38_000,
                components: vec![None, None, Some(3 << 20)],
            },
        ]
    }

    fn ctx(sizes: &[ProgramSize]) -> Context<'_> {
        Context {
            executors: &["native", "qemu", "interpreted"],
            converted: &[false, false, true],
            runs: 3,
            single_over: 5.0,
            sizes,
        }
    }

    #[test]
    fn slowdowns_and_geomean() {
        let rows = rows();
        assert_eq!(slowdown(&rows[0], 1), Some(Slowdown::Exact(4.0)));
        assert_eq!(slowdown(&rows[1], 1), Some(Slowdown::Exact(32.0)));
        assert_eq!(slowdown(&rows[0], 2), None);
        assert_eq!(slowdown(&rows[2], 2), Some(Slowdown::AtLeast(160.0)));
        let g = geomeans(&rows, 3);
        let qemu = (4.0f64 * 32.0 * 4.0).cbrt();
        assert!(matches!(g[1].0, Some(Slowdown::Exact(v)) if (v - qemu).abs() < 1e-9));
        assert_eq!(g[1].1, 3, "the start-up row stays out of the geomean");
        assert!(matches!(g[2], (Some(Slowdown::AtLeast(v)), 1) if (v - 160.0).abs() < 1e-9));
    }

    #[test]
    fn markdown_table() {
        let sizes = sizes();
        let md = markdown(&rows(), &ctx(&sizes));
        let expected_rows = [
            "| workload | native | qemu | interpreted |",
            "|---|--:|--:|--:|",
            "| fib | 500 ms | 4.00x | failed: error: a\\|b |",
            "| nbody | 1.00 s | 32.0x (1 run) | wrong output |",
            "| sort | 250 ms | 4.00x | >160x (capped at 40 s) |",
            "| **geomean** |  | **8.00x** | **>160x** (1 of 3) |",
            "| true | 0.40 ms | 3.00 ms | skipped: bench deadline passed |",
            "| nbody | 37.1 KiB | 3.0 MiB (82.8x of binary) |",
        ];
        for line in expected_rows {
            assert!(
                md.lines().any(|l| l == line),
                "missing line {line:?} in\n{md}"
            );
        }
    }

    #[test]
    fn csv_lines() {
        let sizes = sizes();
        let csv = csv(&rows(), &ctx(&sizes));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 4 * 3);
        assert_eq!(
            lines[1],
            "fib,native,ok,3,0.500000,0.500000,1.000000,1.000000,,33000,,"
        );
        assert_eq!(
            lines[2],
            "fib,qemu,ok,3,2.000000,2.000000,4.000000,4.000000,,33000,,"
        );
        assert_eq!(lines[3], "fib,interpreted,failed,0,,,,,,33000,,error: a|b");
        assert_eq!(
            lines[6],
            "nbody,interpreted,wrong output,0,,,,,,38000,3145728,"
        );
        assert_eq!(
            lines[9],
            "sort,interpreted,capped,0,,,,,160.000000,,,killed after 40 s"
        );
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
