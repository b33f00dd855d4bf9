//! The native side of `verify`: the command as `docker run` would start it, run on the host
//! `chroot`ed into the unpacked image.
//!
//! [`plan`] mirrors the runtime's process start (libc-shim/src/start.rs, `plan`, `find_command`
//! and `boot`) step for step, so both sides get the same argv, environment (in the same order)
//! and working directory: the command is Entrypoint + Cmd, run-time arguments replace Cmd,
//! `--entrypoint` replaces Entrypoint and drops Cmd; the environment is Docker's `PATH`,
//! `HOSTNAME=localhost`, the image's Env, `--env`, then `HOME` from `/etc/passwd` if still unset;
//! a bare command is looked up in `PATH` inside the image. Start failures give the runtime's
//! statuses and messages (127 not found, 126 not executable).
//!
//! [`run`] forks, and the child `chroot`s into the unpacked tree, changes to the working directory
//! and `execve`s the program with exactly that argv and environment (Rust's `Command` would sort
//! the environment). Only root may `chroot`.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use oci2wasm_compose::RunConfig;
use vfs_pack::tree::{Node, Tree};

use super::Outcome;

/// Docker's default `PATH` (libc-shim's `DEFAULT_PATH`).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to execute natively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The program's absolute path inside the image.
    pub exe: String,
    pub argv: Vec<String>,
    /// `KEY=VALUE`, in the order the guest sees them.
    pub envp: Vec<String>,
    pub workdir: String,
}

/// Why the command cannot start: the runtime's status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartFailure {
    pub status: u8,
    pub message: String,
}

fn env_set(env: &mut Vec<String>, entry: &str) {
    let key = entry.split('=').next().unwrap_or_default();
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(entry.to_string());
}

fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
}

/// A regular file's bytes, following symlinks inside the tree.
fn read(tree: &Tree, path: &str) -> Option<Vec<u8>> {
    match &tree.get(tree.resolve(path.as_bytes(), true).ok()?).node {
        Node::File(data) => Some(data.clone()),
        _ => None,
    }
}

/// The image's User as `(uid, home)`, read from `/etc/passwd` as the runtime does.
fn user(tree: &Tree, spec: &str) -> Result<(u32, String), StartFailure> {
    let spec = if spec.is_empty() { "0" } else { spec };
    let name = spec.split(':').next().unwrap_or_default();
    let passwd = read(tree, "/etc/passwd").unwrap_or_default();
    let passwd = String::from_utf8_lossy(&passwd);
    let num = name.parse::<u32>().ok();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| {
            f.len() >= 6 && (f[0] == name || num.is_some() && f[2].parse::<u32>().ok() == num)
        });
    match (entry, num) {
        (Some(f), _) => Ok((f[2].parse().unwrap_or(0), f[5].to_string())),
        (None, Some(0)) => Ok((0, "/root".into())),
        (None, Some(uid)) => Ok((uid, "/".into())),
        (None, None) => Err(StartFailure {
            status: 125,
            message: format!(
                "oci2wasm: unable to find user {name}: no matching entries in passwd file"
            ),
        }),
    }
}

/// The runtime's `find_command`: a path as given (relative to the working directory), or a bare
/// name through `PATH`; it must be an executable regular file.
fn find_command(tree: &Tree, cmd: &str, path: &str, workdir: &str) -> Result<String, StartFailure> {
    let is_exec = |c: &str| {
        let id = tree.resolve(c.as_bytes(), true).ok()?;
        let inode = tree.get(id);
        Some(matches!(inode.node, Node::File(_)) && inode.meta.mode & 0o111 != 0)
    };
    let not_found = || StartFailure {
        status: 127,
        message: format!("oci2wasm: exec: \"{cmd}\": executable file not found in $PATH"),
    };
    if cmd.contains('/') {
        let abs = if cmd.starts_with('/') {
            cmd.to_string()
        } else {
            format!("{}/{cmd}", workdir.trim_end_matches('/'))
        };
        return match is_exec(&abs) {
            Some(true) => Ok(abs),
            Some(false) => Err(StartFailure {
                status: 126,
                message: format!("oci2wasm: exec: \"{cmd}\": permission denied"),
            }),
            None => Err(not_found()),
        };
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{cmd}"))
        .find(|c| is_exec(c) == Some(true))
        .ok_or_else(not_found)
}

/// Applies `docker run` semantics as the runtime does.
pub fn plan(
    tree: &Tree,
    cfg: &RunConfig,
    entrypoint: Option<&str>,
    env: &[String],
    args: &[String],
) -> Result<Plan, StartFailure> {
    let mut ep = cfg.entrypoint.clone();
    let mut cmd = cfg.cmd.clone();
    if let Some(p) = entrypoint {
        ep = if p.is_empty() {
            Vec::new()
        } else {
            vec![p.to_string()]
        };
        cmd.clear();
    }
    if !args.is_empty() {
        cmd = args.to_vec();
    }
    let argv: Vec<String> = ep.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(StartFailure {
            status: 125,
            message: "oci2wasm: no command specified".into(),
        });
    }
    let (uid, home) = user(tree, &cfg.user)?;
    if uid != 0 {
        return Err(StartFailure {
            status: 125,
            message: format!(
                "verify: the image's User {:?} is not root; only root images are verified natively",
                cfg.user
            ),
        });
    }
    let mut envp = Vec::new();
    env_set(&mut envp, &format!("PATH={DEFAULT_PATH}"));
    env_set(&mut envp, "HOSTNAME=localhost");
    for e in cfg
        .env
        .iter()
        .chain(env.iter().filter(|e| !e.starts_with("OCI2WASM_")))
    {
        env_set(&mut envp, e);
    }
    if env_get(&envp, "HOME").is_none() {
        env_set(&mut envp, &format!("HOME={home}"));
    }
    let workdir = if cfg.workdir.is_empty() {
        "/".to_string()
    } else {
        cfg.workdir.clone()
    };
    let path = env_get(&envp, "PATH").unwrap_or(DEFAULT_PATH).to_string();
    let exe = find_command(tree, &argv[0], &path, &workdir)?;
    Ok(Plan {
        exe,
        argv,
        envp,
        workdir,
    })
}

/// Creates the working directory inside `root` when the image lacks it (the runtime does too),
/// refusing to go through anything but real directories.
pub fn make_workdir(root: &Path, workdir: &str) -> Result<()> {
    let mut dir = root.to_path_buf();
    for name in workdir.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if name == ".." {
            bail!("working directory {workdir:?} goes through \"..\"");
        }
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            // Symlinks are resolved in the chroot by the kernel; leave them to it.
            Ok(m) if m.file_type().is_symlink() => return Ok(()),
            Ok(_) => bail!("working directory {workdir:?} is not a directory"),
            Err(_) => std::fs::create_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?,
        }
    }
    Ok(())
}

fn cstring(s: impl AsRef<OsStr>) -> Result<CString> {
    CString::new(s.as_ref().as_bytes()).context("an argument or variable holds a NUL byte")
}

/// A NULL-terminated array of pointers into `strings`, as addresses (so the closure that uses it
/// after `fork` is `Send`).
fn pointers(strings: &[CString]) -> Vec<usize> {
    strings
        .iter()
        .map(|s| s.as_ptr() as usize)
        .chain([0])
        .collect()
}

/// Runs `plan` chrooted into `root` with `stdin` (a file, or nothing) and captures its output.
pub fn run(root: &Path, plan: &Plan, stdin: Option<&Path>) -> Result<Outcome> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("verify runs the command natively with chroot(2), which needs root: run it as root");
    }
    let root_c = cstring(root)?;
    let workdir_c = cstring(&plan.workdir)?;
    let exe_c = cstring(&plan.exe)?;
    let argv_c = plan.argv.iter().map(cstring).collect::<Result<Vec<_>>>()?;
    let envp_c = plan.envp.iter().map(cstring).collect::<Result<Vec<_>>>()?;
    let (argv_p, envp_p) = (pointers(&argv_c), pointers(&envp_c));
    let stdin = match stdin {
        Some(file) => Stdio::from(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        ),
        None => Stdio::null(),
    };
    let mut command = Command::new("/");
    command.stdin(stdin);
    let exec = move || -> std::io::Result<()> {
        // SAFETY: every pointer is into a CString (or a NULL-terminated array of them) owned by
        // this closure, which outlives the calls; chroot, chdir and execve only read them. Only
        // async-signal-safe calls are made between fork and exec, and nothing is allocated.
        unsafe {
            if libc::chroot(root_c.as_ptr()) != 0 || libc::chdir(workdir_c.as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::execve(
                exe_c.as_ptr(),
                argv_p.as_ptr() as *const *const libc::c_char,
                envp_p.as_ptr() as *const *const libc::c_char,
            );
        }
        Err(std::io::Error::last_os_error())
    };
    // SAFETY: the closure runs in the forked child before exec and only makes the system calls
    // above (see there).
    unsafe { command.pre_exec(exec) };
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("cannot run {} natively in {}", plan.exe, root.display()))?;
    let status = match (output.status.code(), output.status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128 + signal as u8,
        (None, None) => bail!("{} ended without a status", plan.exe),
    };
    Ok(Outcome {
        status,
        stdout: output.stdout,
        stderr: output.stderr,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfs_pack::tree::{Inode, Meta};

    fn tree() -> Tree {
        let mut tree = Tree::new();
        let root = tree.root();
        let dir = |t: &mut Tree| {
            t.add(Inode {
                meta: Meta::root(0o755),
                node: Node::Dir(Default::default()),
            })
        };
        let (bin, etc) = (dir(&mut tree), dir(&mut tree));
        tree.link(root, b"bin", bin);
        tree.link(root, b"etc", etc);
        let exe = tree.add(Inode {
            meta: Meta::root(0o755),
            node: Node::File(b"\x7fELF".to_vec()),
        });
        tree.link(bin, b"busybox", exe);
        let sh = tree.add(Inode {
            meta: Meta::root(0o777),
            node: Node::Symlink(b"/bin/busybox".to_vec()),
        });
        tree.link(bin, b"sh", sh);
        let passwd = tree.add(Inode {
            meta: Meta::root(0o644),
            node: Node::File(b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
        });
        tree.link(etc, b"passwd", passwd);
        tree
    }

    #[test]
    fn plans_follow_docker_run_and_the_runtime() {
        let cfg = RunConfig {
            entrypoint: vec!["/bin/busybox".into()],
            cmd: vec!["sh".into()],
            env: vec!["PATH=/bin".into(), "A=1".into()],
            workdir: "/home/user".into(),
            ..RunConfig::default()
        };
        let p = plan(&tree(), &cfg, None, &["A=2".into()], &["ls".into()]).unwrap();
        assert_eq!(p.argv, ["/bin/busybox", "ls"]);
        assert_eq!(
            p.envp,
            ["HOSTNAME=localhost", "PATH=/bin", "A=2", "HOME=/root"]
        );
        assert_eq!(p.workdir, "/home/user");
        let p = plan(
            &tree(),
            &cfg,
            Some("sh"),
            &[],
            &["-c".into(), "true".into()],
        )
        .unwrap();
        assert_eq!((p.exe.as_str(), p.argv.len()), ("/bin/sh", 3));
        let missing = plan(&tree(), &cfg, Some("nope"), &[], &[]).unwrap_err();
        assert_eq!(missing.status, 127);
        let not_exec = plan(&tree(), &cfg, Some("/etc/passwd"), &[], &[]).unwrap_err();
        assert_eq!(not_exec.status, 126);
    }
}
