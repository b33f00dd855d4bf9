//! The executors a workload is timed under, and how each one turns a workload into a command.
//!
//! Native and qemu-x86_64 run the host binary directly. The converted executors build a `dir:`
//! image tree holding the workload's program and inputs, convert it with
//! `oci2wasm convert dir:TREE -o DIR --name NAME [FLAGS]` and run the component with
//! `oci2wasm run DIR/NAME.wasm -- PROGRAM ARGS`: `interpreted` with `--lift none` (the
//! interpreter alone), `lifted` with `--lift all` (every program translated ahead of time, the
//! interpreter for what was not found). A new converted executor is one more row in
//! [`EXECUTORS`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{self, RunError};
use crate::workloads::Workload;

/// How an executor runs a program.
#[derive(Debug)]
pub enum Via {
    /// The host CPU.
    Native,
    /// `qemu-x86_64 PROGRAM ARGS` (user-mode emulation with its TCG JIT).
    Qemu,
    /// A component made by `oci2wasm convert` with these extra flags, run by `oci2wasm run`.
    Oci2wasm {
        convert_flags: &'static [&'static str],
    },
}

/// One column of the table.
#[derive(Debug)]
pub struct Executor {
    pub name: &'static str,
    pub via: Via,
}

/// Every executor, in column order. The first must be native: it is the reference for times
/// and outputs.
pub const EXECUTORS: &[Executor] = &[
    Executor {
        name: "native",
        via: Via::Native,
    },
    Executor {
        name: "qemu",
        via: Via::Qemu,
    },
    Executor {
        name: "interpreted",
        via: Via::Oci2wasm {
            convert_flags: &["--lift", "none"],
        },
    },
    Executor {
        name: "lifted",
        via: Via::Oci2wasm {
            convert_flags: &["--lift", "all"],
        },
    },
];

/// Where things are on the host.
#[derive(Debug)]
pub struct Paths {
    /// Compiled C workloads.
    pub bin: PathBuf,
    /// Generated inputs at the measured size; `warm/` below it at the warm-up size. Every run's
    /// working directory.
    pub data: PathBuf,
    /// Image trees, one per workload.
    pub trees: PathBuf,
    /// Components, `components/EXECUTOR/NAME.wasm`.
    pub components: PathBuf,
    /// The `oci2wasm` binary.
    pub oci2wasm: PathBuf,
}

/// A workload made ready for one executor: the commands for the warm-up and the measured runs.
#[derive(Debug)]
pub struct Prepared {
    pub warm: Vec<OsString>,
    pub measured: Vec<OsString>,
    /// The size of the component, for converted executors.
    pub component_bytes: Option<u64>,
}

impl Executor {
    /// Builds the commands for `workload`; for converted executors this converts the image
    /// first. The error is the text of a "failed: ..." cell.
    pub fn prepare(
        &self,
        workload: &Workload,
        quick: bool,
        paths: &Paths,
    ) -> Result<Prepared, String> {
        let host = workload.host_program(&paths.bin);
        let command = |prefix: &[OsString], program: OsString, warm: bool| {
            let mut argv = prefix.to_vec();
            argv.push(program);
            argv.extend(workload.argv_tail(quick, warm));
            argv
        };
        match &self.via {
            Via::Native | Via::Qemu => {
                let prefix = match self.via {
                    Via::Qemu => vec![OsString::from("qemu-x86_64")],
                    _ => vec![],
                };
                Ok(Prepared {
                    warm: command(&prefix, host.clone().into(), true),
                    measured: command(&prefix, host.into(), false),
                    component_bytes: None,
                })
            }
            Via::Oci2wasm { convert_flags } => {
                let component = self.convert(workload, convert_flags, paths)?;
                let component_bytes = std::fs::metadata(&component).map(|m| m.len()).ok();
                let prefix = [
                    paths.oci2wasm.clone().into(),
                    "run".into(),
                    component.into_os_string(),
                    "--".into(),
                ];
                let guest = OsString::from(workload.guest_program());
                Ok(Prepared {
                    warm: command(&prefix, guest.clone(), true),
                    measured: command(&prefix, guest, false),
                    component_bytes,
                })
            }
        }
    }

    /// Builds the workload's image tree (once per workload) and converts it to
    /// `components/EXECUTOR/NAME.wasm`.
    fn convert(
        &self,
        workload: &Workload,
        flags: &[&str],
        paths: &Paths,
    ) -> Result<PathBuf, String> {
        if !paths.oci2wasm.is_file() {
            return Err(format!(
                "{} not found (build it: cargo build --release -p oci2wasm)",
                paths.oci2wasm.display()
            ));
        }
        let tree = paths.trees.join(workload.name);
        build_tree(workload, &tree, paths)
            .map_err(|e| format!("building {}: {e}", tree.display()))?;
        let out = paths.components.join(self.name);
        let mut argv: Vec<OsString> = vec![
            paths.oci2wasm.clone().into(),
            "convert".into(),
            format!("dir:{}", tree.display()).into(),
            "-o".into(),
            out.clone().into(),
            "--name".into(),
            workload.name.into(),
            // A `dir:` tree has no Cmd; the run-time arguments replace this one anyway.
            "--cmd".into(),
            workload.guest_program().into(),
        ];
        argv.extend(flags.iter().map(OsString::from));
        match process::run(&argv, &paths.data, Duration::from_secs(600)) {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(format!(
                    "convert: {}",
                    process::failure_line(o.status, &o.stderr)
                ));
            }
            Err(RunError::Spawn(e)) => return Err(format!("convert: {e}")),
            Err(RunError::Timeout(t)) => return Err(format!("convert: timed out after {t:?}")),
        }
        let component = out.join(format!("{}.wasm", workload.name));
        if component.is_file() {
            Ok(component)
        } else {
            Err(format!(
                "convert succeeded but wrote no {}",
                component.display()
            ))
        }
    }
}

/// The image tree: the program at its guest path, and the inputs at the root (the default
/// working directory of an image without one), with the warm-up inputs in `/warm`.
fn build_tree(workload: &Workload, tree: &Path, paths: &Paths) -> std::io::Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree)?;
    }
    std::fs::create_dir_all(tree.join("bin"))?;
    let program = workload.guest_program();
    link_or_copy(
        &workload.host_program(&paths.bin),
        &tree.join(program.trim_start_matches('/')),
    )?;
    if !workload.inputs.is_empty() {
        std::fs::create_dir_all(tree.join("warm"))?;
    }
    for input in workload.inputs {
        link_or_copy(&paths.data.join(input), &tree.join(input))?;
        link_or_copy(
            &paths.data.join("warm").join(input),
            &tree.join("warm").join(input),
        )?;
    }
    Ok(())
}

/// The size of what an image tree holds for `workload`: its program plus its inputs.
pub fn image_bytes(workload: &Workload, paths: &Paths) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut total = size(&workload.host_program(&paths.bin));
    for input in workload.inputs {
        total += size(&paths.data.join(input)) + size(&paths.data.join("warm").join(input));
    }
    total
}

/// Hard-links `from` to `to` (the inputs are large), copying across filesystems.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

/// The native binary's size, for the component-size comparison.
pub fn native_bytes(workload: &Workload, paths: &Paths) -> u64 {
    std::fs::metadata(workload.host_program(&paths.bin))
        .map(|m| m.len())
        .unwrap_or(0)
}
