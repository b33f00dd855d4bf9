//! The executors a workload is timed under, and how each one turns a workload into a command.
//!
//! Native and qemu-x86_64 run the host binary directly, in `data/`. The converted executors run
//! the program's component (`convert.rs`) with `oci2wasm run COMPONENT --mount DATA:/data:ro --
//! PROGRAM ARGS`: `interpreted` converted with `--lift none` (the interpreter alone), `lifted`
//! with `--lift all` (every program translated ahead of time, the interpreter for what was not
//! found). A new converted executor is one more row in [`EXECUTORS`].

use std::ffi::OsString;
use std::path::PathBuf;

use crate::convert::{Components, GUEST_DATA};
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
    /// Generated inputs at the measured size; `warm/` below it at the warm-up size. The working
    /// directory of native and qemu runs, mounted at `/data` for the converted ones.
    pub data: PathBuf,
    /// Image trees, one per program.
    pub trees: PathBuf,
    /// Components, `components/EXECUTOR/PROGRAM.wasm`.
    pub components: PathBuf,
    /// The `oci2wasm` binary.
    pub oci2wasm: PathBuf,
}

/// A workload made ready for one executor: the commands for the warm-up and the measured runs.
#[derive(Debug)]
pub struct Prepared {
    pub warm: Vec<OsString>,
    pub measured: Vec<OsString>,
}

impl Executor {
    /// Builds the commands for `workload`, with the component converted for this executor. The
    /// error is the text of a "failed: ..." cell.
    pub fn prepare(
        &self,
        workload: &Workload,
        quick: bool,
        paths: &Paths,
        components: &Components,
    ) -> Result<Prepared, String> {
        let command = |prefix: &[OsString], program: OsString, warm: bool| {
            let mut argv = prefix.to_vec();
            argv.push(program);
            argv.extend(workload.argv_tail(quick, warm));
            argv
        };
        let mut prefix: Vec<OsString> = Vec::new();
        let program = match self.via {
            Via::Native => workload.program.host_path(&paths.bin).into(),
            Via::Qemu => {
                prefix.push("qemu-x86_64".into());
                workload.program.host_path(&paths.bin).into()
            }
            Via::Oci2wasm { .. } => {
                let component = match components.get(self.name, workload.program) {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => return Err(e.clone()),
                    None => return Err("not converted".into()),
                };
                prefix.extend([
                    paths.oci2wasm.clone().into(),
                    "run".into(),
                    component.path.clone().into(),
                ]);
                if !workload.inputs.is_empty() {
                    let mut mount = OsString::from("--mount=");
                    mount.push(&paths.data);
                    mount.push(format!(":{GUEST_DATA}:ro"));
                    prefix.push(mount);
                }
                prefix.push("--".into());
                workload.program.guest_path().into()
            }
        };
        Ok(Prepared {
            warm: command(&prefix, OsString::clone(&program), true),
            measured: command(&prefix, program, false),
        })
    }
}
