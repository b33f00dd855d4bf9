//! The workload table: our own C programs (compiled static with musl -O2 from
//! `bench/workloads/*.c`) and real programs (busybox applets over generated inputs), each with
//! arguments for the default size, for `--quick` and for the warm-up run, plus the two start-up
//! probes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The static busybox from Debian's busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";

/// Which executable a workload runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Program {
    /// `bench/workloads/NAME.c`, compiled to `OUT/bin/NAME`.
    C(&'static str),
    /// `/bin/busybox`, with the applet as the first argument.
    Busybox,
}

impl Program {
    /// The program's name, which its component is named after: workloads running the same
    /// program share one component per executor (inputs are mounted, not built in).
    pub fn name(self) -> &'static str {
        match self {
            Program::C(name) => name,
            Program::Busybox => "busybox",
        }
    }

    /// The executable on the host.
    pub fn host_path(self, bin_dir: &Path) -> PathBuf {
        match self {
            Program::C(name) => bin_dir.join(name),
            Program::Busybox => PathBuf::from(BUSYBOX),
        }
    }

    /// The executable's path inside the image built for the converted executors.
    pub fn guest_path(self) -> String {
        match self {
            Program::C(name) => format!("/bin/{name}"),
            Program::Busybox => BUSYBOX.to_string(),
        }
    }
}

/// One row of the bench.
#[derive(Debug)]
pub struct Workload {
    pub name: &'static str,
    pub program: Program,
    /// Arguments at the default size. `$D/` stands for the input directory prefix: nothing for
    /// the measured runs (the working directory holds the inputs), `warm/` for the warm-up run
    /// (whose inputs are tiny).
    pub args: &'static [&'static str],
    /// Arguments with `--quick`.
    pub quick_args: &'static [&'static str],
    /// Arguments for the warm-up run: as small as the program allows, since its only purpose is
    /// to fill the compile cache and the page cache (the interpreter runs it at its own pace).
    pub warm_args: &'static [&'static str],
    /// Generated input files the workload reads (see `inputs.rs`).
    pub inputs: &'static [&'static str],
    /// A start-up probe: reported in milliseconds and kept out of the geomean.
    pub startup: bool,
}

const AWK_PROGRAM: &str = "{ n[$1]++; s[$1] += $2; t[$1] += $3 } \
     END { for (k in n) printf \"%s %d %d %d\\n\", k, n[k], s[k], t[k] }";

const fn c(
    name: &'static str,
    args: &'static [&'static str],
    quick: &'static [&'static str],
    warm: &'static [&'static str],
) -> Workload {
    Workload {
        name,
        program: Program::C(name),
        args,
        quick_args: quick,
        warm_args: warm,
        inputs: &[],
        startup: false,
    }
}

const fn busybox(
    name: &'static str,
    args: &'static [&'static str],
    inputs: &'static [&'static str],
) -> Workload {
    Workload {
        name,
        program: Program::Busybox,
        args,
        quick_args: args,
        warm_args: args,
        inputs,
        startup: false,
    }
}

/// Every workload, in table order.
pub const WORKLOADS: &[Workload] = &[
    c("fib", &["38"], &["30"], &["20"]),
    c("sieve", &["12"], &["2"], &["1"]),
    c("crc32", &["80"], &["12"], &["1"]),
    c("nbody", &["1500000"], &["200000"], &["1000"]),
    c("wordcount", &["12"], &["2"], &["1"]),
    // The smallest run is a million iterations (0 would count down forever).
    c("bytecode", &["4"], &["1"], &["1"]),
    c("strings", &["200"], &["30"], &["1"]),
    busybox("sha256sum", &["sha256sum", "$D/sha.bin"], &["sha.bin"]),
    busybox("gzip", &["gzip", "-6", "-c", "$D/gzip.txt"], &["gzip.txt"]),
    busybox("sort", &["sort", "$D/sort.txt"], &["sort.txt"]),
    busybox("awk", &["awk", AWK_PROGRAM, "$D/awk.txt"], &["awk.txt"]),
    Workload {
        startup: true,
        ..c("true", &[], &[], &[])
    },
    Workload {
        startup: true,
        ..busybox("busybox-true", &["true"], &[])
    },
];

impl Workload {
    /// The arguments after the program, for a measured run (`warm == false`) or the warm-up.
    pub fn argv_tail(&self, quick: bool, warm: bool) -> Vec<OsString> {
        let args = match (warm, quick) {
            (true, _) => self.warm_args,
            (false, true) => self.quick_args,
            (false, false) => self.args,
        };
        let prefix = if warm { "warm/" } else { "" };
        args.iter()
            .map(|a| OsString::from(a.replace("$D/", prefix)))
            .collect()
    }
}

/// Selects workloads by name (`--only`); every one when `only` is empty.
pub fn select(only: &[String]) -> Result<Vec<&'static Workload>> {
    for name in only {
        if !WORKLOADS.iter().any(|w| w.name == name) {
            let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
            bail!(
                "unknown workload {name:?}; the workloads are {}",
                names.join(", ")
            );
        }
    }
    Ok(WORKLOADS
        .iter()
        .filter(|w| only.is_empty() || only.iter().any(|o| o == w.name))
        .collect())
}

/// Compiles the C workloads among `selected` from `src_dir` into `bin_dir` with
/// `musl-gcc -static -O2` (always: it takes a fraction of a second each).
pub fn compile(selected: &[&Workload], src_dir: &Path, bin_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    for workload in selected {
        let Program::C(name) = workload.program else {
            continue;
        };
        let src = src_dir.join(format!("{name}.c"));
        let out = bin_dir.join(name);
        let result = Command::new("musl-gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .arg("-lm")
            .output()
            .context("running musl-gcc")?;
        if !result.status.success() {
            bail!(
                "musl-gcc failed on {}:\n{}",
                src.display(),
                String::from_utf8_lossy(&result.stderr)
            );
        }
    }
    Ok(())
}

/// Fails with an installation hint when a tool the bench needs is not on this machine.
pub fn check_tools(need_busybox: bool) -> Result<()> {
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    let mut missing = Vec::new();
    if !on_path("qemu-x86_64") {
        missing.push(("qemu-x86_64", "qemu-user"));
    }
    if !on_path("musl-gcc") {
        missing.push(("musl-gcc", "musl-tools"));
    }
    if need_busybox && !Path::new(BUSYBOX).is_file() {
        missing.push((BUSYBOX, "busybox-static"));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let tools: Vec<_> = missing.iter().map(|m| m.0).collect();
    let packages: Vec<_> = missing.iter().map(|m| m.1).collect();
    bail!(
        "{} not found; install with: sudo apt-get install -y {}",
        tools.join(", "),
        packages.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_c_sources_exist() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
        for (i, w) in WORKLOADS.iter().enumerate() {
            assert!(
                WORKLOADS[..i].iter().all(|o| o.name != w.name),
                "{} twice",
                w.name
            );
            if let Program::C(name) = w.program {
                assert!(src.join(format!("{name}.c")).is_file(), "{name}.c missing");
            }
        }
    }

    #[test]
    fn busybox_workloads_share_a_program_name() {
        let name = |w: &str| {
            WORKLOADS
                .iter()
                .find(|x| x.name == w)
                .unwrap()
                .program
                .name()
        };
        assert_eq!(name("sha256sum"), "busybox");
        assert_eq!(name("busybox-true"), "busybox");
        assert_eq!(name("fib"), "fib");
    }

    #[test]
    fn argv_tail_substitutes_the_input_directory() {
        let sha = WORKLOADS.iter().find(|w| w.name == "sha256sum").unwrap();
        assert_eq!(sha.argv_tail(false, false), ["sha256sum", "sha.bin"]);
        assert_eq!(sha.argv_tail(false, true), ["sha256sum", "warm/sha.bin"]);
        let fib = WORKLOADS.iter().find(|w| w.name == "fib").unwrap();
        assert_eq!(fib.argv_tail(false, false), ["38"]);
        assert_eq!(fib.argv_tail(true, false), ["30"]);
        assert_eq!(fib.argv_tail(false, true), ["20"]);
        assert_eq!(fib.argv_tail(true, true), ["20"]);
    }

    #[test]
    fn select_rejects_unknown_names() {
        assert_eq!(select(&[]).unwrap().len(), WORKLOADS.len());
        assert_eq!(select(&["fib".into(), "sort".into()]).unwrap().len(), 2);
        assert!(
            select(&["fibonacci".into()])
                .unwrap_err()
                .to_string()
                .contains("fib, sieve")
        );
    }
}
