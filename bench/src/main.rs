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
//! run crashes) gets a `failed: <first line of stderr>` cell; one whose stdout differs from
//! native's gets `wrong output`; one killed at the per-run cap reports its slowdown as a lower
//! bound. None of them stops the bench. See `bench/README.md`.

mod chart;
mod convert;
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

use convert::Components;
use executors::{EXECUTORS, Paths, Via};
use measure::{Cell, Limits};

/// Benchmark native vs qemu-x86_64 vs oci2wasm-converted execution.
#[derive(Debug, Parser)]
#[command(name = "bench", max_term_width = 100)]
struct Args {
    /// Small sizes (each workload a few ms to ~100 ms natively), for a check that everything runs.
    #[arg(long)]
    quick: bool,
    /// Measured runs per cell, at most; each ratio is the median.
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
    /// Kill a run after this many seconds; its cell reports the slowdown as a lower bound
    /// (">Nx") [default: 50, 5 with --quick].
    #[arg(long)]
    cap: Option<f64>,
    /// A cell whose run took longer than this many seconds gets no more runs [default: 5, 1
    /// with --quick].
    #[arg(long)]
    single_over: Option<f64>,
    /// After this many seconds in total, no cell gets another run, a run in progress is capped and
    /// converted executors of the remaining workloads are skipped [default: 840, 300 with
    /// --quick].
    #[arg(long)]
    deadline: Option<u64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let mut selected = workloads::select(&args.only)?;
    // The start-up probes first: they are cheap, and the deadline cannot skip them.
    selected.sort_by_key(|w| !w.startup);
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
        inputs::generate(&paths.data.join("warm"), inputs::WARM)?;
    } else {
        std::fs::create_dir_all(&paths.data)?;
    }

    eprintln!("bench: converting with {}", paths.oci2wasm.display());
    let components = Components::convert(&selected, &paths);

    let pick = |arg: Option<f64>, full: f64, quick: f64| {
        Duration::from_secs_f64(arg.unwrap_or(if args.quick { quick } else { full }))
    };
    let limits = Limits {
        runs: args.runs as usize,
        cap: pick(args.cap, 50.0, 5.0),
        single_over: pick(args.single_over, 5.0, 1.0),
        deadline: start
            + Duration::from_secs(args.deadline.unwrap_or(if args.quick { 300 } else { 840 })),
    };
    let names: Vec<&str> = EXECUTORS.iter().map(|e| e.name).collect();
    let mut rows = Vec::new();
    for workload in &selected {
        let row = measure::measure(workload, args.quick, &paths, &components, limits);
        eprintln!("bench: {:<13} {}", workload.name, progress(&row, &names));
        rows.push(row);
    }

    let converted: Vec<bool> = EXECUTORS
        .iter()
        .map(|e| matches!(e.via, Via::Oci2wasm { .. }))
        .collect();
    let sizes = program_sizes(&selected, &components, &paths);
    let ctx = report::Context {
        executors: &names,
        converted: &converted,
        runs: limits.runs,
        single_over: limits.single_over.as_secs_f64(),
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

/// The native binary and component sizes of each program among `selected`, in table order.
fn program_sizes(
    selected: &[&workloads::Workload],
    components: &Components,
    paths: &Paths,
) -> Vec<report::ProgramSize> {
    let mut sizes: Vec<report::ProgramSize> = Vec::new();
    for w in selected {
        let program = w.program.name();
        if sizes.iter().any(|s| s.program == program) {
            continue;
        }
        sizes.push(report::ProgramSize {
            program,
            native: std::fs::metadata(w.program.host_path(&paths.bin)).map_or(0, |m| m.len()),
            components: EXECUTORS
                .iter()
                .map(|e| match components.get(e.name, w.program) {
                    Some(Ok(c)) => Some(c.bytes),
                    _ => None,
                })
                .collect(),
        });
    }
    sizes
}

/// One line of progress for stderr: each executor's median or why it has none.
fn progress(row: &measure::Row, names: &[&str]) -> String {
    let parts: Vec<String> = row
        .cells
        .iter()
        .zip(names)
        .enumerate()
        .map(|(c, (cell, name))| match cell {
            Cell::Timed { wall, .. } if !wall.is_empty() => match report::slowdown(row, c) {
                Some(s) if c > 0 => format!("{name} {} ({} run(s))", s.text(), wall.len()),
                _ => format!(
                    "{name} {}",
                    stats::format_seconds(stats::median(wall).unwrap_or(0.0))
                ),
            },
            Cell::Capped(cap) => match report::slowdown(row, c) {
                Some(s) => format!("{name} {} (capped at {cap} s)", s.text()),
                None => format!("{name} capped at {cap} s"),
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
