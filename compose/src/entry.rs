//! Finding the program an image runs, at compose time, to refuse images oci2wasm cannot run.
//!
//! The first word of Entrypoint + Cmd is looked up as `execvp` would: a name with a `/` relative to
//! WorkingDir, otherwise in each `PATH` directory of the image's Env (executable regular files
//! only). Symlinks resolve inside the image ([`Tree::resolve`]). A `#!` script leads to its
//! interpreter; a dynamically linked program needs its loader in the image. The program finally
//! run must be an x86-64 ELF.

use oci2wasm_lift::elf::{self, ElfInfo, Linking};
use vfs_pack::tree::{Node, Tree};

use crate::config::RunConfig;
use crate::error::{Error, ErrorKind, Result};

/// How many `#!` interpreters may chain (Linux allows 4 levels).
const MAX_SCRIPT_DEPTH: usize = 4;

/// The program an image runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The command as the image names it (first word of Entrypoint + Cmd).
    pub command: String,
    /// Where it was found: an absolute path in the image (before following symlinks).
    pub path: String,
    /// `#!` interpreters on the way to the ELF, outermost first.
    pub scripts: Vec<String>,
    /// The ELF that runs (`path` itself unless it is a script).
    pub elf_path: String,
    pub elf: ElfInfo,
}

fn refuse(message: String) -> Error {
    Error::new(ErrorKind::Entrypoint, message)
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// A regular file's contents and mode at `path`, following every symlink.
fn file_at<'t>(tree: &'t Tree, path: &str) -> Option<(&'t [u8], u32)> {
    let id = tree.resolve(path.as_bytes(), true).ok()?;
    let inode = tree.get(id);
    match &inode.node {
        Node::File(bytes) => Some((bytes, inode.meta.mode)),
        _ => None,
    }
}

/// Looks `command` up as `execvp` would.
fn find_program<'t>(
    tree: &'t Tree,
    command: &str,
    config: &RunConfig,
) -> Result<(String, &'t [u8])> {
    if command.contains('/') {
        let path = if command.starts_with('/') {
            command.to_string()
        } else {
            join(&config.workdir, command)
        };
        return match file_at(tree, &path) {
            Some((bytes, _)) => Ok((path, bytes)),
            None => Err(refuse(format!(
                "the image's entrypoint {command} is not a file in the image"
            ))),
        };
    }
    for dir in config.path().split(':') {
        let dir = if dir.is_empty() {
            config.workdir.as_str()
        } else {
            dir
        };
        let path = join(dir, command);
        if let Some((bytes, mode)) = file_at(tree, &path)
            && mode & 0o111 != 0
        {
            return Ok((path, bytes));
        }
    }
    Err(refuse(format!(
        "the image's entrypoint {command} is not an executable file in PATH ({})",
        config.path()
    )))
}

/// The interpreter named by a `#!` line.
fn shebang(bytes: &[u8]) -> Option<String> {
    let line = bytes.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = String::from_utf8_lossy(line);
    line.split_ascii_whitespace().next().map(str::to_string)
}

/// Resolves the program the image runs and checks that it is an x86-64 ELF.
pub fn resolve(tree: &Tree, config: &RunConfig) -> Result<Entry> {
    let argv = config.argv();
    let command = argv
        .first()
        .ok_or_else(|| refuse("the image has neither Entrypoint nor Cmd: nothing to run".into()))?
        .clone();
    let (path, mut bytes) = find_program(tree, &command, config)?;
    let mut current = path.clone();
    let mut scripts = Vec::new();
    loop {
        if elf::is_elf(bytes) {
            break;
        }
        let Some(interpreter) = shebang(bytes) else {
            return Err(refuse(format!(
                "the image's entrypoint {current} is neither an ELF program nor a #! script"
            )));
        };
        if scripts.len() == MAX_SCRIPT_DEPTH {
            return Err(refuse(format!(
                "too many nested #! interpreters at {current}"
            )));
        }
        scripts.push(current.clone());
        bytes = file_at(tree, &interpreter).map(|(b, _)| b).ok_or_else(|| {
            refuse(format!(
                "the interpreter {interpreter} of the image's entrypoint script {current} is not in the image"
            ))
        })?;
        current = interpreter;
    }
    let info = elf::analyze(bytes)
        .map_err(|e| refuse(format!("the image's entrypoint {current}: {e}")))?;
    if !info.is_x86_64() {
        return Err(refuse(format!(
            "the image's entrypoint {current} is a {}-bit {} ELF; oci2wasm converts x86-64 (64-bit) programs only",
            info.class, info.machine_name
        )));
    }
    if info.linking == Linking::Dynamic
        && let Some(loader) = &info.interpreter
    {
        let ok = file_at(tree, loader)
            .and_then(|(b, _)| elf::analyze(b).ok())
            .is_some_and(|l| l.is_x86_64());
        if !ok {
            return Err(refuse(format!(
                "the image's entrypoint {current} needs the dynamic loader {loader}, which is not an x86-64 ELF in the image"
            )));
        }
    }
    Ok(Entry {
        command,
        path,
        scripts,
        elf_path: current,
        elf: info,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vfs_pack::tree::{Inode, Meta};

    /// A 64-byte ELF64 header (no program headers) for `machine`: enough for `elf::analyze`.
    pub(crate) fn elf_header(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // 64-bit
        h[5] = 1; // little-endian
        h[6] = 1; // version
        h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[24..32].copy_from_slice(&0x401000u64.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        h
    }

    pub(crate) fn add(tree: &mut Tree, path: &str, node: Node, mode: u32) {
        let (dir, name) = tree
            .resolve_parent(path.as_bytes(), Some(Meta::root(0o755)), true)
            .unwrap();
        let id = tree.add(Inode {
            meta: Meta::root(mode),
            node,
        });
        tree.link(dir, &name, id);
    }

    fn config(entrypoint: &[&str], env: &[&str]) -> RunConfig {
        RunConfig {
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            workdir: "/".into(),
            ..RunConfig::default()
        }
    }

    fn sample() -> Tree {
        let mut tree = Tree::new();
        add(&mut tree, "/bin/busybox", Node::File(elf_header(62)), 0o755);
        add(
            &mut tree,
            "/bin/sh",
            Node::Symlink(b"busybox".to_vec()),
            0o777,
        );
        add(
            &mut tree,
            "/usr/bin/arm",
            Node::File(elf_header(183)),
            0o755,
        );
        add(
            &mut tree,
            "/usr/bin/noexec",
            Node::File(elf_header(62)),
            0o644,
        );
        add(
            &mut tree,
            "/app/run.sh",
            Node::File(b"#!/bin/sh -e\necho hi\n".to_vec()),
            0o755,
        );
        add(
            &mut tree,
            "/app/data.txt",
            Node::File(b"hello".to_vec()),
            0o755,
        );
        tree
    }

    #[test]
    fn finds_programs_through_path_symlinks_and_scripts() {
        let tree = sample();
        let e = resolve(&tree, &config(&["sh", "-c", "true"], &[])).unwrap();
        assert_eq!(
            (e.path.as_str(), e.elf_path.as_str()),
            ("/bin/sh", "/bin/sh")
        );
        assert!(e.elf.is_x86_64());
        let e = resolve(&tree, &config(&["run.sh"], &["PATH=/app:/bin"])).unwrap();
        assert_eq!(e.scripts, ["/app/run.sh"]);
        assert_eq!(e.elf_path, "/bin/sh");
        let e = resolve(&tree, &config(&["./app/run.sh"], &[])).unwrap();
        assert_eq!(e.path, "/./app/run.sh");
    }

    #[test]
    fn refuses_what_cannot_run() {
        let tree = sample();
        let err = |argv: &[&str]| resolve(&tree, &config(argv, &[])).unwrap_err();
        assert!(
            err(&["arm"]).message().contains("aarch64"),
            "{}",
            err(&["arm"])
        );
        assert!(
            err(&["noexec"])
                .message()
                .contains("not an executable file in PATH")
        );
        assert!(err(&["/usr/bin/missing"]).message().contains("not a file"));
        assert!(err(&["/app/data.txt"]).message().contains("neither an ELF"));
        assert!(err(&[]).message().contains("nothing to run"));
        assert_eq!(err(&["arm"]).kind(), ErrorKind::Entrypoint);
    }
}
