//! The oci2wasm benchmark bench: times each workload natively, under `qemu-x86_64` and converted
//! by `oci2wasm` (interpreted and lifted), in one run, and reports the slowdown vs native per
//! workload, the geomean per executor, start-up times and component sizes as a markdown table on
//! stdout, `OUT/bench.csv` and `OUT/bench.png`.
//!
//! ```text
//! cargo run -p bench --release -- [--quick] [--runs N] [--only fib,sort] [--out DIR]
//! ```
//!
//! An executor that cannot run a workload (the runtime is not there yet, a conversion fails, a
//! run crashes or times out) gets a `failed: <first line of stderr>` cell; one whose stdout
//! differs from native's gets `wrong output`. Neither stops the bench. See `bench/README.md`.

mod chart;
mod executors;
mod inputs;
mod measure;
mod process;
mod report;
mod stats;
mod workloads;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;

use executors::{EXECUTORS, Paths, Via};
use measure::{Cell, Limits};

/// Benchmark native vs qemu-x86_64 vs oci2wasm-converted execution.
#[derive(Debug, Parser)]
#[command(name = "bench", max_term_width = 100)]
struct Args {
    /// Small sizes (each workload a few ms to ~100 ms natively): the whole bench in under a minute.
    #[arg(long)]
    quick: bool,
    /// Measured runs per cell; each ratio is the median.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Only these workloads (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where binaries, inputs, components and the results go [default: target/bench-results].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The oci2wasm binary [default: target/release/oci2wasm].
    #[arg(long)]
    oci2wasm: Option<PathBuf>,
    /// Kill a run after this many seconds (the cell says "failed: timed out").
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Stop repeating a cell's runs once they have taken this many seconds (at least one run)
    /// [default: 60, 5 with --quick].
    #[arg(long)]
    cell_budget: Option<u64>,
    /// After this many seconds in total, cells get one run, and converted executors of the
    /// remaining workloads are skipped [default: 840, 45 with --quick].
    #[arg(long)]
    deadline: Option<u64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let selected = workloads::select(&args.only)?;
    let needs_busybox = selected
        .iter()
        .any(|w| w.program == workloads::Program::Busybox);
    workloads::check_tools(needs_busybox)?;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is in the workspace")
        .to_path_buf();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| target.join("bench-results"));
    let paths = Paths {
        bin: out.join("bin"),
        data: out.join("data"),
        trees: out.join("trees"),
        components: out.join("components"),
        oci2wasm: args
            .oci2wasm
            .clone()
            .unwrap_or_else(|| target.join("release/oci2wasm")),
    };

    workloads::compile(&selected, &root.join("bench/workloads"), &paths.bin)?;
    let sizes = if args.quick {
        inputs::QUICK
    } else {
        inputs::FULL
    };
    if selected.iter().any(|w| !w.inputs.is_empty()) {
        eprintln!("bench: generating inputs in {}", paths.data.display());
        inputs::generate(&paths.data, sizes)?;
        inputs::generate(&paths.data.join("warm"), inputs::QUICK)?;
    } else {
        std::fs::create_dir_all(&paths.data)?;
    }

    let deadline = Duration::from_secs(args.deadline.unwrap_or(if args.quick { 45 } else { 840 }));
    let limits = Limits {
        runs: args.runs as usize,
        timeout: Duration::from_secs(args.timeout),
        cell_budget: Duration::from_secs(args.cell_budget.unwrap_or(if args.quick {
            5
        } else {
            60
        })),
        deadline: start + deadline,
    };
    let names: Vec<&str> = EXECUTORS.iter().map(|e| e.name).collect();
    let mut rows = Vec::new();
    for workload in selected {
        let row = measure::measure(workload, args.quick, &paths, limits);
        eprintln!("bench: {:<13} {}", workload.name, progress(&row, &names));
        rows.push(row);
    }

    let sizes: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                executors::native_bytes(r.workload, &paths),
                executors::image_bytes(r.workload, &paths),
            )
        })
        .collect();
    let converted: Vec<bool> = EXECUTORS
        .iter()
        .map(|e| matches!(e.via, Via::Oci2wasm { .. }))
        .collect();
    let ctx = report::Context {
        executors: &names,
        converted: &converted,
        runs: limits.runs,
        sizes: &sizes,
    };
    print!("{}", report::markdown(&rows, &ctx));
    let csv = out.join("bench.csv");
    std::fs::write(&csv, report::csv(&rows, &ctx))
        .with_context(|| format!("writing {}", csv.display()))?;
    let png = out.join("bench.png");
    match chart::draw(&rows, &names, &png) {
        Ok(()) => eprintln!("bench: wrote {} and {}", csv.display(), png.display()),
        Err(e) => eprintln!("bench: wrote {}; no chart: {e:#}", csv.display()),
    }
    eprintln!("bench: finished in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// One line of progress for stderr: each executor's median or why it has none.
fn progress(row: &measure::Row, names: &[&str]) -> String {
    let parts: Vec<String> = row
        .cells
        .iter()
        .zip(names)
        .enumerate()
        .map(|(c, (cell, name))| match cell {
            Cell::Timed { wall, .. } if !wall.is_empty() => match report::ratio(row, c) {
                Some(r) if c > 0 => format!("{name} {}", stats::format_ratio(r)),
                _ => format!(
                    "{name} {}",
                    stats::format_seconds(stats::median(wall).unwrap_or(0.0))
                ),
            },
            Cell::Timed { .. } => format!("{name} -"),
            Cell::Failed(why) => format!(
                "{name} failed: {}",
                why.chars().take(60).collect::<String>()
            ),
            Cell::WrongOutput => format!("{name} wrong output"),
            Cell::Skipped(why) => format!("{name} skipped: {why}"),
        })
        .collect();
    parts.join(" | ")
}
