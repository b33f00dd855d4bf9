//! Converting the workloads' programs into components, once per program and converted executor,
//! before any timing. Each program gets an image tree (the program at its guest path and an
//! empty `/data`, the image's working directory, where `oci2wasm run --mount` puts the inputs),
//! converted with `oci2wasm convert dir:TREE -o components/EXECUTOR --name PROGRAM --workdir
//! /data [FLAGS]`. The inputs are mounted rather than built in, so the workloads running the same
//! program (every busybox applet) share one component per executor, and its code is compiled
//! once (a lifted busybox takes ~1 minute here) rather than once per workload.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::executors::{EXECUTORS, Paths, Via};
use crate::process::{self, RunError};
use crate::workloads::{Program, Workload};

/// Where the inputs are mounted in the guest, and its working directory.
pub const GUEST_DATA: &str = "/data";

/// A converted program.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Every component, by executor name and program name; an error is the text of a failed cell.
#[derive(Debug, Default)]
pub struct Components(HashMap<(&'static str, &'static str), Result<Component, String>>);

impl Components {
    /// Converts every program among `workloads` for every converted executor.
    pub fn convert(workloads: &[&Workload], paths: &Paths) -> Self {
        let mut programs: Vec<Program> = Vec::new();
        for w in workloads {
            if !programs.contains(&w.program) {
                programs.push(w.program);
            }
        }
        let mut map = HashMap::new();
        for program in programs {
            let tree = paths.trees.join(program.name());
            let built = build_tree(program, &tree, paths)
                .map_err(|e| format!("building {}: {e}", tree.display()));
            for executor in EXECUTORS {
                let Via::Oci2wasm { convert_flags } = executor.via else {
                    continue;
                };
                let result = built.clone().and_then(|()| {
                    let out = paths.components.join(executor.name);
                    convert(program, &tree, &out, convert_flags, paths)
                });
                map.insert((executor.name, program.name()), result);
            }
        }
        Components(map)
    }

    /// The component of `program` for `executor`; `None` when it was not converted.
    pub fn get(
        &self,
        executor: &'static str,
        program: Program,
    ) -> Option<&Result<Component, String>> {
        self.0.get(&(executor, program.name()))
    }
}

/// Converts `tree` into `out/PROGRAM.wasm`.
fn convert(
    program: Program,
    tree: &Path,
    out: &Path,
    flags: &[&str],
    paths: &Paths,
) -> Result<Component, String> {
    if !paths.oci2wasm.is_file() {
        return Err(format!(
            "{} not found (build it: cargo build --release -p oci2wasm)",
            paths.oci2wasm.display()
        ));
    }
    let mut argv: Vec<OsString> = vec![
        paths.oci2wasm.clone().into(),
        "convert".into(),
        format!("dir:{}", tree.display()).into(),
        "-o".into(),
        out.into(),
        "--name".into(),
        program.name().into(),
        // A `dir:` tree has no Cmd; the run-time arguments replace this one anyway.
        "--cmd".into(),
        program.guest_path().into(),
        "--workdir".into(),
        GUEST_DATA.into(),
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
    let path = out.join(format!("{}.wasm", program.name()));
    match std::fs::metadata(&path) {
        Ok(meta) => Ok(Component {
            bytes: meta.len(),
            path,
        }),
        Err(_) => Err(format!("convert succeeded but wrote no {}", path.display())),
    }
}

/// The image tree: the program at its guest path and the empty mount point `/data`.
fn build_tree(program: Program, tree: &Path, paths: &Paths) -> std::io::Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree)?;
    }
    std::fs::create_dir_all(tree.join("bin"))?;
    std::fs::create_dir_all(tree.join(GUEST_DATA.trim_start_matches('/')))?;
    let from = program.host_path(&paths.bin);
    let to = tree.join(program.guest_path().trim_start_matches('/'));
    if std::fs::hard_link(&from, &to).is_err() {
        std::fs::copy(&from, &to)?;
    }
    Ok(())
}
