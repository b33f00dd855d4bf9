//! `oci2wasm verify IMAGE [-- ARGS]`: differential testing. The command runs twice with the same
//! argv, environment, working directory and stdin — natively on the host, `chroot`ed into the
//! unpacked image, and converted, on the interpreter in the embedded wasmtime — and any difference
//! in stdout, stderr or exit status is reported.
//!
//! - Native side ([`native`]): the image's tree is unpacked ([`oci2wasm_fetch::unpack`]) into a
//!   private temporary directory and the command started as the runtime starts it.
//! - Converted side: the image is converted in process ([`super::convert::compose_image`]), or
//!   `--component` names one converted already, and run by [`super::run::run_guest`], the code
//!   path of `oci2wasm run`, with stdin from memory and stdout/stderr captured.
//!
//! Exit status: 0 when the runs agree, 1 when they differ, 2 when verify itself fails (main.rs).

mod diff;
mod native;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use oci2wasm_compose::RunConfig;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use crate::image_args::{ConfigOverrides, ImageArgs};

/// How much of each captured output stream is kept on the converted side.
const CAPTURE_LIMIT: usize = 256 << 20;

/// Run a command natively and converted, and report any difference.
///
/// The command runs on the host inside the unpacked image (with chroot, so verify must run as
/// root) and as a converted component in the embedded runtime, both with the argv, environment,
/// working directory and stdin that `docker run` semantics give (image Entrypoint, Cmd, Env,
/// WorkingDir; ARGS replace Cmd). Stdout, stderr and the exit status are compared byte for byte.
/// Choose commands whose output is deterministic (no times, random bytes or addresses). The
/// native chroot has the image's files only: no /dev or /proc (the converted side has both), and
/// block counts (`ls -l` totals, `du`) come from the host's filesystem. Neither side times out.
///
/// Exit status: 0 when both runs agree, 1 when they differ, 2 on an error.
///
/// Examples:
///   oci2wasm verify oci:fixtures/out/busybox/oci:latest -- md5sum /bin/busybox
///   oci2wasm verify oci:fixtures/out/busybox/oci:latest --stdin in.txt -- sort -r
///   oci2wasm verify oci:fixtures/out/musl/oci --entrypoint /usr/local/bin/floats --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,

    #[command(flatten)]
    lift: crate::lifting::LiftArgs,

    /// Run this program instead of the image's Entrypoint (the image's Cmd is dropped too).
    #[arg(long, value_name = "PATH")]
    entrypoint: Option<String>,

    /// Set an environment variable (KEY=VALUE), over the image's Env. Repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,

    /// Feed this file to the command's stdin [default: empty].
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,

    /// Run in this directory instead of the image's WorkingDir.
    #[arg(long, value_name = "DIR", conflicts_with = "component")]
    workdir: Option<String>,

    /// Use this component (converted from IMAGE already) instead of converting IMAGE again.
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,

    /// Do not compare stderr (it is still shown with --json).
    #[arg(long)]
    ignore_stderr: bool,

    /// Print both results as JSON instead of a report.
    #[arg(long)]
    json: bool,

    /// Arguments for the program, replacing the image's Cmd.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// What one side produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub status: u8,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Wall time of the run alone (not the unpacking, conversion or compilation).
    pub seconds: f64,
}

impl Outcome {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status,
            "stdout": String::from_utf8_lossy(&self.stdout),
            "stderr": String::from_utf8_lossy(&self.stderr),
            "seconds": self.seconds,
        })
    }
}

/// Runs the converted side: `component` through `oci2wasm run`'s code path, output captured.
fn run_converted(args: &Args, component: &Path, stdin: &[u8]) -> Result<Outcome> {
    let (stdout, stderr) = (
        MemoryOutputPipe::new(CAPTURE_LIMIT),
        MemoryOutputPipe::new(CAPTURE_LIMIT),
    );
    let guest = super::run::Guest {
        component,
        entrypoint: args.entrypoint.as_deref(),
        env: &args.env,
        mounts: &[],
        cache_dir: args.image.cache_dir.as_deref(),
        args: &args.args,
        stats: false,
        record_misses: None,
    };
    let started = std::time::Instant::now();
    let status = super::run::run_guest(&guest, |wasi| {
        wasi.stdin(MemoryInputPipe::new(stdin.to_vec()))
            .stdout(stdout.clone())
            .stderr(stderr.clone());
    })?;
    Ok(Outcome {
        status,
        stdout: stdout.contents().to_vec(),
        stderr: stderr.contents().to_vec(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The report of two runs: which parts differ (empty when none) and the text to print.
fn compare(
    native: &Outcome,
    converted: &Outcome,
    ignore_stderr: bool,
) -> (Vec<&'static str>, String) {
    let mut differ = Vec::new();
    let mut text = String::new();
    if native.stdout != converted.stdout {
        differ.push("stdout");
        text += &diff::excerpt("stdout", &native.stdout, &converted.stdout);
    }
    if !ignore_stderr && native.stderr != converted.stderr {
        differ.push("stderr");
        text += &diff::excerpt("stderr", &native.stderr, &converted.stderr);
    }
    if native.status != converted.status {
        differ.push("exit status");
        text += &format!(
            "exit status: native {}, converted {}\n",
            native.status, converted.status
        );
    }
    let times = format!(
        "native {:.3} s, converted {:.3} s",
        native.seconds, converted.seconds
    );
    let head = if differ.is_empty() {
        format!(
            "verify: same stdout ({} bytes), {}and exit status {} ({times})\n",
            native.stdout.len(),
            if ignore_stderr {
                String::new()
            } else {
                format!("stderr ({} bytes) ", native.stderr.len())
            },
            native.status
        )
    } else {
        format!(
            "verify: native and converted differ in {} ({times})\n",
            differ.join(", ")
        )
    };
    (differ, head + &text)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let quiet = args.image.quiet;
    let say = |msg: String| {
        if !quiet {
            eprintln!("{msg}");
        }
    };
    let stdin = match &args.stdin {
        Some(file) => {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        }
        None => Vec::new(),
    };
    let mut image = args.image.fetch()?;
    // What the converted side is built with: --workdir replaces WorkingDir, and --entrypoint
    // (which the runtime applies at run time anyway) is checked at conversion, so images without
    // an Entrypoint or Cmd of their own (`dir:` trees) convert.
    let overrides = ConfigOverrides {
        entrypoint: args.entrypoint.clone(),
        cmd: Vec::new(),
        workdir: args.workdir.clone(),
    };
    overrides.apply(&mut image.config);
    let run_config = RunConfig::from_image(&image.config);
    let plan = native::plan(
        &image.rootfs,
        &run_config,
        args.entrypoint.as_deref(),
        &args.env,
        &args.args,
    );

    let tmp = tempfile::Builder::new()
        .prefix("oci2wasm-verify-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let root = tmp.path().join("rootfs");
    std::fs::create_dir(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let unpacked = oci2wasm_fetch::unpack(&image.rootfs, &root)
        .with_context(|| format!("cannot unpack {}", args.image.image))?;
    for (path, kind) in &unpacked.skipped {
        say(format!(
            "verify: note: {path} ({kind}) is not created natively"
        ));
    }

    let component = match &args.component {
        Some(file) => file.clone(),
        None => {
            let context = || format!("cannot convert {}", args.image.image);
            let composed = super::convert::compose_image(
                &image.config,
                image.rootfs,
                oci2wasm_compose::RUNTIME_WASM,
                oci2wasm_compose::DEFAULT_HEAP_SIZE,
                &args.lift,
                &context,
                &|_| {},
            )?;
            let file = tmp.path().join("image.wasm");
            std::fs::write(&file, &composed.component)
                .with_context(|| format!("cannot write {}", file.display()))?;
            file
        }
    };

    let native = match &plan {
        Ok(plan) => {
            native::make_workdir(&root, &plan.workdir)?;
            native::run(&root, plan, args.stdin.as_deref())?
        }
        Err(failure) => Outcome {
            status: failure.status,
            stderr: format!("{}\n", failure.message).into_bytes(),
            ..Outcome::default()
        },
    };
    let converted = run_converted(&args, &component, &stdin)?;
    let (differ, report) = compare(&native, &converted, args.ignore_stderr);
    if args.json {
        let value = serde_json::json!({
            "equal": differ.is_empty(),
            "differ": differ,
            "native": native.json(),
            "converted": converted.json(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{report}");
    }
    Ok(if differ.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u8, stdout: &[u8], stderr: &[u8]) -> Outcome {
        Outcome {
            status,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            seconds: 0.0,
        }
    }

    #[test]
    fn reports_name_what_differs() {
        let a = outcome(0, b"x\n", b"");
        let (differ, text) = compare(&a, &a.clone(), false);
        assert!(differ.is_empty());
        assert!(
            text.starts_with("verify: same stdout (2 bytes), stderr (0 bytes) and exit status 0")
        );
        let (differ, text) = compare(&a, &outcome(1, b"y\n", b"oops\n"), false);
        assert_eq!(differ, ["stdout", "stderr", "exit status"]);
        assert!(text.contains("-x\n+y\n"), "{text}");
        assert!(
            text.contains("exit status: native 0, converted 1"),
            "{text}"
        );
        let (differ, _) = compare(&a, &outcome(0, b"x\n", b"noise"), true);
        assert!(differ.is_empty());
    }
}
