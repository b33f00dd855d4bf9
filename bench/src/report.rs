//! Turning rows of cells into the report: a markdown table of slowdowns vs native with the
//! geomean per executor, start-up times, component sizes, and a CSV with every number.

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
    /// Native binary and image sizes per row, in row order.
    pub sizes: &'a [(u64, u64)],
}

/// The median wall time of a timed cell with at least one run.
pub fn median_wall(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Timed { wall, .. } => median(wall),
        _ => None,
    }
}

/// A cell's slowdown vs native: median over median.
pub fn ratio(row: &Row, column: usize) -> Option<f64> {
    let native = median_wall(&row.cells[0])?;
    Some(median_wall(&row.cells[column])? / native)
}

/// The per-executor geomean of the ratios of the non-start-up rows, and how many rows it has.
pub fn geomeans(rows: &[Row], columns: usize) -> Vec<(Option<f64>, usize)> {
    (0..columns)
        .map(|c| {
            let ratios: Vec<f64> = rows
                .iter()
                .filter(|r| !r.workload.startup)
                .filter_map(|r| ratio(r, c))
                .collect();
            (geomean(&ratios), ratios.len())
        })
        .collect()
}

/// A cell's text. `value` is what a timed cell shows (a ratio or a time).
fn cell_text(cell: &Cell, value: Option<String>, runs: usize) -> String {
    let text = match cell {
        Cell::Timed { wall, .. } => match value {
            Some(v) if wall.len() < runs => {
                format!(
                    "{v} ({} run{})",
                    wall.len(),
                    if wall.len() == 1 { "" } else { "s" }
                )
            }
            Some(v) => v,
            None => "–".to_string(),
        },
        Cell::Failed(why) => {
            let short: String = why.chars().take(90).collect();
            format!(
                "failed: {short}{}",
                if why.chars().count() > 90 { "…" } else { "" }
            )
        }
        Cell::WrongOutput => "wrong output".to_string(),
        Cell::Skipped(why) => format!("skipped: {why}"),
    };
    text.replace('|', "\\|")
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
        "### Slowdown vs native (median of {} runs, wall time; native column: seconds)\n",
        ctx.runs
    );
    out.push_str(&header("workload", ctx.executors));
    for row in rows.iter().filter(|r| !r.workload.startup) {
        let _ = write!(out, "| {} |", row.workload.name);
        for (c, cell) in row.cells.iter().enumerate() {
            let value = if c == 0 {
                median_wall(cell).map(format_seconds)
            } else {
                ratio(row, c)
                    .map(format_ratio)
                    .or_else(|| median_wall(cell).map(format_seconds))
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
            Some(g) if n == benchmarks => format!("**{}**", format_ratio(g)),
            Some(g) => format!("**{}** ({n} of {benchmarks})", format_ratio(g)),
            None => "–".to_string(),
        };
        let _ = write!(out, " {text} |");
    }
    out.push('\n');

    if rows.iter().any(|r| r.workload.startup) {
        out.push_str("\n### Start-up (median wall time)\n\n");
        out.push_str(&header("program", ctx.executors));
        for row in rows.iter().filter(|r| r.workload.startup) {
            let _ = write!(out, "| {} |", row.workload.name);
            for cell in &row.cells {
                let _ = write!(
                    out,
                    " {} |",
                    cell_text(cell, median_wall(cell).map(format_seconds), ctx.runs)
                );
            }
            out.push('\n');
        }
    }

    let converted: Vec<usize> = (0..ctx.executors.len())
        .filter(|&c| ctx.converted[c])
        .collect();
    if !converted.is_empty() {
        out.push_str("\n### Component size (image = program + generated inputs)\n\n");
        let mut names = vec!["native binary", "image"];
        names.extend(converted.iter().map(|&c| ctx.executors[c]));
        out.push_str(&header("program", &names));
        for (row, (native, image)) in rows.iter().zip(ctx.sizes) {
            let _ = write!(
                out,
                "| {} | {} | {} |",
                row.workload.name,
                format_bytes(*native),
                format_bytes(*image)
            );
            for &c in &converted {
                let text = match row.component_bytes[c] {
                    Some(bytes) if *image > 0 => {
                        format!(
                            "{} ({} of image)",
                            format_bytes(bytes),
                            format_ratio(bytes as f64 / *image as f64)
                        )
                    }
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
         native_bytes,image_bytes,component_bytes,detail\n",
    );
    let num = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    for (row, (native, image)) in rows.iter().zip(ctx.sizes) {
        let native_cpu = match &row.cells[0] {
            Cell::Timed { cpu, .. } => median(cpu),
            _ => None,
        };
        for (c, cell) in row.cells.iter().enumerate() {
            let (status, runs, cpu, detail) = match cell {
                Cell::Timed { wall, cpu } => ("ok", wall.len(), median(cpu), String::new()),
                Cell::Failed(why) => ("failed", 0, None, why.clone()),
                Cell::WrongOutput => ("wrong output", 0, None, String::new()),
                Cell::Skipped(why) => ("skipped", 0, None, why.clone()),
            };
            let ratio_cpu = cpu
                .zip(native_cpu)
                .filter(|(_, n)| *n > 0.0)
                .map(|(c, n)| c / n);
            let component = row.component_bytes[c]
                .map(|b| b.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{status},{runs},{},{},{},{},{native},{image},{component},{}",
                row.workload.name,
                ctx.executors[c],
                num(median_wall(cell)),
                num(cpu),
                num(ratio(row, c)),
                num(ratio_cpu),
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
                component_bytes: vec![None, None, None],
            },
            Row {
                workload: workload("nbody"),
                cells: vec![timed(&[1.0, 1.0, 1.0]), timed(&[32.0]), Cell::WrongOutput],
                component_bytes: vec![None, None, Some(3 << 20)],
            },
            Row {
                workload: workload("true"),
                cells: vec![
                    timed(&[0.0004; 3]),
                    timed(&[0.003; 3]),
                    Cell::Skipped("bench deadline passed".into()),
                ],
                component_bytes: vec![None, None, None],
            },
        ]
    }

    fn ctx() -> Context<'static> {
        Context {
            executors: &["native", "qemu", "interpreted"],
            converted: &[false, false, true],
            runs: 3,
            sizes: &[(33_000, 33_000), (38_000, 38_000), (18_000, 18_000)],
        }
    }

    #[test]
    fn ratios_and_geomean() {
        let rows = rows();
        assert_eq!(ratio(&rows[0], 1), Some(4.0));
        assert_eq!(ratio(&rows[1], 1), Some(32.0));
        assert_eq!(ratio(&rows[0], 2), None);
        let g = geomeans(&rows, 3);
        assert!((g[1].0.unwrap() - (4.0f64 * 32.0).sqrt()).abs() < 1e-9);
        assert_eq!(g[1].1, 2, "the start-up row stays out of the geomean");
        assert_eq!(g[2], (None, 0));
    }

    #[test]
    fn markdown_table() {
        let md = markdown(&rows(), &ctx());
        let expected_rows = [
            "| workload | native | qemu | interpreted |",
            "|---|--:|--:|--:|",
            "| fib | 500 ms | 4.00x | failed: error: a\\|b |",
            "| nbody | 1.00 s | 32.0x (1 run) | wrong output |",
            "| **geomean** |  | **11.3x** | – |",
            "| true | 0.40 ms | 3.00 ms | skipped: bench deadline passed |",
            "| nbody | 37.1 KiB | 37.1 KiB | 3.0 MiB (82.8x of image) |",
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
        let csv = csv(&rows(), &ctx());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 3 * 3);
        assert_eq!(
            lines[1],
            "fib,native,ok,3,0.500000,0.500000,1.000000,1.000000,33000,33000,,"
        );
        assert_eq!(
            lines[2],
            "fib,qemu,ok,3,2.000000,2.000000,4.000000,4.000000,33000,33000,,"
        );
        assert_eq!(
            lines[3],
            "fib,interpreted,failed,0,,,,,33000,33000,,error: a|b"
        );
        assert_eq!(
            lines[6],
            "nbody,interpreted,wrong output,0,,,,,38000,38000,3145728,"
        );
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
