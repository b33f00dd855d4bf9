//! Process start with `docker run` semantics, and the wasm32 entry point.
//!
//! The command is the image's Entrypoint followed by its Cmd; arguments given at run time (WASI
//! args after argv[0]) replace Cmd. `OCI2WASM_ENTRYPOINT` in the WASI environment replaces the
//! Entrypoint as `docker run --entrypoint` does (and, like it, drops the image's Cmd): its value
//! is the elements separated by the ASCII unit separator `\x1f` (environment values cannot hold
//! NUL), so a value without one is a one-element entrypoint and an empty value an empty one.
//! Other WASI variables add to or override the image's Env; `OCI2WASM_*` variables configure the
//! runtime (`OCI2WASM_STRACE=1` traces syscalls; `OCI2WASM_STATS=1` and
//! `OCI2WASM_RECORD_MISSES=PATH` report lifted-code coverage, see `lifted::stats`) and are not
//! passed on. `PATH` defaults to
//! Docker's, `HOSTNAME` is the container's hostname, and `HOME` comes from `/etc/passwd` for the
//! image's User (`/root` for root, `/` for an unknown uid). A bare command name is looked up in
//! `PATH`; `#!` scripts run their interpreter. WorkingDir is created if missing.
//!
//! Failures before the guest runs are [`StartError`]s with Docker's exit codes (125 the
//! runtime, 126 not executable, 127 not found).

use crate::abi::*;
use crate::cpu::{Cpu, reg};
use crate::fs::Vfs;
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::node::{Body, Node};
use crate::layout::{ConfigTag, config_records};
use crate::loader::{LoadError, StackSetup, build_stack, load_program};
use crate::mem::GuestMem;
use crate::mm::{Grow, Mm, STACK_SIZE};
use crate::platform::{Kind, Platform};
use crate::process::{Cred, Executor, LoadedFile, Process, Stop, run};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The image's run configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    pub entrypoint: Vec<Vec<u8>>,
    pub cmd: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub workdir: Option<Vec<u8>>,
    pub user: Option<Vec<u8>>,
    pub hostname: Option<Vec<u8>>,
}

impl RunConfig {
    pub fn parse(bytes: &[u8]) -> RunConfig {
        let mut c = RunConfig::default();
        for (tag, body) in config_records(bytes) {
            let v = body.to_vec();
            match tag {
                ConfigTag::Entrypoint => c.entrypoint.push(v),
                ConfigTag::Cmd => c.cmd.push(v),
                ConfigTag::Env => c.env.push(v),
                ConfigTag::WorkingDir => c.workdir = Some(v),
                ConfigTag::User => c.user = Some(v),
                ConfigTag::Hostname => c.hostname = Some(v),
            }
        }
        c
    }
}

/// Why the guest could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    NoCommand,
    NotFound(Vec<u8>),
    NotExecutable(Vec<u8>),
    NoUser(Vec<u8>),
    Load(Vec<u8>, LoadError),
    Image(String),
}

impl StartError {
    /// Docker's exit status for this failure.
    pub fn status(&self) -> i32 {
        match self {
            StartError::NotFound(_) => 127,
            StartError::NotExecutable(_) => 126,
            _ => 125,
        }
    }

    pub fn message(&self) -> String {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            StartError::NoCommand => String::from("oci2wasm: no command specified"),
            StartError::NotFound(c) => format!(
                "oci2wasm: exec: \"{}\": executable file not found in $PATH",
                s(c)
            ),
            StartError::NotExecutable(c) => {
                format!("oci2wasm: exec: \"{}\": permission denied", s(c))
            }
            StartError::NoUser(u) => format!(
                "oci2wasm: unable to find user {}: no matching entries in passwd file",
                s(u)
            ),
            StartError::Load(c, e) => format!("oci2wasm: exec: \"{}\": {e}", s(c)),
            StartError::Image(m) => format!("oci2wasm: {m}"),
        }
    }
}

/// Docker's default `PATH`.
pub const DEFAULT_PATH: &[u8] =
    b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launch {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub workdir: Vec<u8>,
    pub cred: Cred,
    pub hostname: Vec<u8>,
    pub strace: bool,
}

fn env_get<'a>(env: &'a [Vec<u8>], key: &[u8]) -> Option<&'a [u8]> {
    env.iter()
        .find_map(|e| e.strip_prefix(key)?.strip_prefix(b"="))
}

fn env_set(env: &mut Vec<Vec<u8>>, entry: &[u8]) {
    let key = entry.split(|&b| b == b'=').next().unwrap_or_default();
    env.retain(|e| e.split(|&b| b == b'=').next() != Some(key));
    env.push(entry.to_vec());
}

/// A whole file of the filesystem, if it is a regular file.
pub fn read_file(vfs: &Vfs, p: &mut dyn Platform, path: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let w = vfs.walk(p, &[], path, true).ok()?;
    let data = match w.node() {
        Node::Lower(i) if i.kind() == Kind::File => vfs.image.file_data(i).to_vec(),
        Node::Upper(u) => match &u.borrow().body {
            Body::File(d) => d.clone(),
            _ => return None,
        },
        _ => return None,
    };
    Some((data, crate::fs::path_string(&w.names)))
}

/// Resolves the image's User against `/etc/passwd` and `/etc/group`: (uid, gid, home).
fn resolve_user(
    vfs: &Vfs,
    p: &mut dyn Platform,
    user: Option<&[u8]>,
) -> Result<(u32, u32, Vec<u8>), StartError> {
    let passwd = read_file(vfs, p, b"/etc/passwd")
        .map(|f| f.0)
        .unwrap_or_default();
    let group = read_file(vfs, p, b"/etc/group")
        .map(|f| f.0)
        .unwrap_or_default();
    let fields = |line: &[u8]| {
        line.split(|&b| b == b':')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    let num = |s: &[u8]| core::str::from_utf8(s).ok()?.parse::<u32>().ok();
    let spec = user.filter(|u| !u.is_empty()).unwrap_or(b"0");
    let mut parts = spec.splitn(2, |&b| b == b':');
    let (u, g) = (parts.next().unwrap_or_default(), parts.next());
    let entry = passwd
        .split(|&b| b == b'\n')
        .map(fields)
        .find(|f| f.len() >= 6 && (f[0] == u || num(&f[2]) == num(u) && num(u).is_some()));
    let (uid, mut gid, home) = match (&entry, num(u)) {
        (Some(f), _) => (
            num(&f[2]).unwrap_or(0),
            num(&f[3]).unwrap_or(0),
            f[5].clone(),
        ),
        (None, Some(uid)) => (
            uid,
            0,
            if uid == 0 {
                b"/root".to_vec()
            } else {
                b"/".to_vec()
            },
        ),
        (None, None) => return Err(StartError::NoUser(u.to_vec())),
    };
    if let Some(g) = g {
        gid = match num(g) {
            Some(n) => n,
            None => group
                .split(|&b| b == b'\n')
                .map(fields)
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| num(&f[2]))
                .ok_or_else(|| StartError::NoUser(spec.to_vec()))?,
        };
    }
    Ok((uid, gid, home))
}

/// Applies `docker run` semantics to the image config and the runner's args and environment.
pub fn plan(
    cfg: &RunConfig,
    args: &[Vec<u8>],
    env: &[Vec<u8>],
    vfs: &Vfs,
    p: &mut dyn Platform,
) -> Result<Launch, StartError> {
    let mut entrypoint = cfg.entrypoint.clone();
    let mut cmd = cfg.cmd.clone();
    if let Some(ep) = env_get(env, b"OCI2WASM_ENTRYPOINT") {
        entrypoint = if ep.is_empty() {
            Vec::new()
        } else {
            ep.split(|&b| b == 0x1f).map(<[u8]>::to_vec).collect()
        };
        cmd.clear();
    }
    if args.len() > 1 {
        cmd = args[1..].to_vec();
    }
    let argv: Vec<Vec<u8>> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(StartError::NoCommand);
    }
    let (uid, gid, home) = resolve_user(vfs, p, cfg.user.as_deref())?;
    let hostname = cfg
        .hostname
        .clone()
        .unwrap_or_else(|| b"localhost".to_vec());
    let mut envp: Vec<Vec<u8>> = Vec::new();
    env_set(&mut envp, DEFAULT_PATH);
    env_set(&mut envp, &[b"HOSTNAME=", &hostname[..]].concat());
    for e in &cfg.env {
        env_set(&mut envp, e);
    }
    for e in env.iter().filter(|e| !e.starts_with(b"OCI2WASM_")) {
        env_set(&mut envp, e);
    }
    if env_get(&envp, b"HOME").is_none() {
        env_set(&mut envp, &[b"HOME=", &home[..]].concat());
    }
    Ok(Launch {
        argv,
        envp,
        workdir: cfg
            .workdir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| b"/".to_vec()),
        cred: Cred {
            uid,
            gid,
            euid: uid,
            egid: gid,
        },
        hostname,
        strace: env_get(env, b"OCI2WASM_STRACE") == Some(b"1"),
    })
}

/// Finds the executable for `argv[0]`: a path as given, or a bare name through `PATH`.
pub fn find_command(
    vfs: &Vfs,
    p: &mut dyn Platform,
    cmd: &[u8],
    path: &[u8],
) -> Result<Vec<u8>, StartError> {
    let is_exec = |vfs: &Vfs, p: &mut dyn Platform, c: &[u8]| -> Option<bool> {
        let w = vfs.walk(p, &[], c, true).ok()?;
        let st = vfs.stat(w.node());
        Some(w.node().kind() == Kind::File && st.mode & 0o111 != 0)
    };
    if cmd.contains(&b'/') {
        let abs = if cmd.starts_with(b"/") {
            cmd.to_vec()
        } else {
            [&crate::fs::path_string(&vfs.cwd)[..], b"/", cmd].concat()
        };
        return match is_exec(vfs, p, &abs) {
            Some(true) => Ok(abs),
            Some(false) => Err(StartError::NotExecutable(cmd.to_vec())),
            None => Err(StartError::NotFound(cmd.to_vec())),
        };
    }
    for dir in path.split(|&b| b == b':').filter(|d| !d.is_empty()) {
        let cand = [dir, b"/", cmd].concat();
        if is_exec(vfs, p, &cand) == Some(true) {
            return Ok(cand);
        }
    }
    Err(StartError::NotFound(cmd.to_vec()))
}

/// Loads the program of `launch` into a new process: filesystem state, stdio, memory, stack and
/// registers.
pub fn boot(
    launch: &Launch,
    mut vfs: Vfs,
    mut mm: Mm,
    mem: &mut GuestMem,
    p: &mut dyn Platform,
) -> Result<(Process, Cpu), StartError> {
    vfs.uid = launch.cred.euid;
    vfs.gid = launch.cred.egid;
    if vfs.chdir(p, &launch.workdir).is_err() {
        let mut dir = Vec::new();
        for c in crate::fs::components(&launch.workdir) {
            dir.extend_from_slice(b"/");
            dir.extend_from_slice(c);
            let _ = vfs.mkdir(p, at::FDCWD.into(), &dir, 0o755);
        }
        vfs.chdir(p, &launch.workdir).map_err(|e| {
            StartError::Image(format!(
                "cannot enter working directory: {}",
                errno_message(e)
            ))
        })?;
    }
    for fd in 0..3u32 {
        let f = OpenFile::new(
            FileKind::Stdio(fd),
            if fd == 0 { o::RDONLY } else { o::WRONLY },
            Vec::new(),
        );
        vfs.fds
            .install(f, false)
            .map_err(|_| StartError::Image(String::from("no fds")))?;
    }
    let path = env_get(&launch.envp, b"PATH")
        .unwrap_or(&DEFAULT_PATH[5..])
        .to_vec();
    let mut argv = launch.argv.clone();
    let mut exe_path = find_command(&vfs, p, &argv[0], &path)?;
    // `#!` scripts: the interpreter runs with the script's path (at most four levels).
    let mut file = Vec::new();
    for _ in 0..4 {
        let (data, canon) =
            read_file(&vfs, p, &exe_path).ok_or_else(|| StartError::NotFound(argv[0].clone()))?;
        if !data.starts_with(b"#!") {
            file = data;
            vfs.exe = canon;
            break;
        }
        let line = data[2..].split(|&b| b == b'\n').next().unwrap_or_default();
        let mut words = line
            .splitn(2, |&b| b == b' ' || b == b'\t')
            .map(|w| w.trim_ascii().to_vec())
            .filter(|w| !w.is_empty());
        let interp = words
            .next()
            .ok_or_else(|| StartError::NotExecutable(exe_path.clone()))?;
        let mut new = alloc::vec![interp.clone()];
        new.extend(words);
        new.push(exe_path.clone());
        new.extend(argv.drain(1..));
        argv = new;
        exe_path = find_command(&vfs, p, &interp, &path)?;
    }
    if file.is_empty() {
        return Err(StartError::NotExecutable(exe_path));
    }
    let name = vfs.exe.clone();
    let exe_ino = match vfs.walk(p, &[], &exe_path, true).as_ref().map(|w| w.node()) {
        Ok(Node::Lower(i)) => Some(i.ino()),
        _ => None,
    };
    let (exe, interp, entry) = {
        let vfs_ref = &vfs;
        let mut open_interp = |ip: &[u8]| read_file(vfs_ref, &mut *p, ip);
        load_program(&mut mm, mem, &file, &name, &mut open_interp)
            .map_err(|e| StartError::Load(argv[0].clone(), e))?
    };
    let top = mm
        .map_stack(mem, STACK_SIZE)
        .map_err(|_| StartError::Image(String::from("no room for the stack")))?;
    let mut random = [0u8; 16];
    p.random(&mut random);
    let setup = StackSetup {
        argv: &argv,
        envp: &launch.envp,
        execfn: &exe_path,
        exe,
        interp,
        uid: launch.cred.uid,
        gid: launch.cred.gid,
        random,
    };
    let sp =
        build_stack(&mut mm, mem, top, &setup).map_err(|e| StartError::Load(argv[0].clone(), e))?;
    let join = |v: &[Vec<u8>]| {
        v.iter()
            .flat_map(|a| a.iter().copied().chain([0]))
            .collect::<Vec<u8>>()
    };
    vfs.cmdline = join(&argv);
    vfs.environ = join(&launch.envp);
    let start_ns = p.now(crate::platform::Clock::Monotonic);
    let mut proc = Process::new(vfs, mm, start_ns);
    proc.cred = launch.cred;
    proc.hostname = launch.hostname.clone();
    proc.strace = launch.strace;
    proc.exe_file = loaded_file(&file, exe_ino, exe.bias);
    proc.comm = argv[0]
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or_default()
        .iter()
        .take(15)
        .copied()
        .collect();
    let mut gpr = [0; 16];
    gpr[reg::RSP] = sp;
    let cpu = Cpu {
        rip: entry,
        gpr,
        stack_guard: top - STACK_SIZE,
        ..Cpu::default()
    };
    Ok((proc, cpu))
}

/// What executors learn about the main executable: its packed inode, bias and code pages.
fn loaded_file(file: &[u8], ino: Option<u32>, bias: u64) -> LoadedFile {
    let page = crate::mem::PAGE;
    let code = crate::loader::Elf::parse(file)
        .map(|elf| {
            elf.phdrs
                .iter()
                .filter(|ph| ph.kind == 1 && ph.flags & 1 != 0) // PT_LOAD, PF_X
                .map(|ph| {
                    let start = ph.vaddr.wrapping_add(bias) & !(page - 1);
                    let end = ph.vaddr.wrapping_add(bias).saturating_add(ph.memsz);
                    (start, end.div_ceil(page).saturating_mul(page))
                })
                .collect()
        })
        .unwrap_or_default();
    LoadedFile { ino, bias, code }
}

/// The guest address space a process gets: how the window grows, its limit, and the addresses
/// below `reserved` that hold memory others grew before the guest started (the p1 adapter's
/// state), which are never mapped for the guest.
pub struct Space {
    pub grow: Box<dyn Grow>,
    pub limit: u64,
    pub reserved: u64,
}

impl core::fmt::Debug for Space {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Space")
            .field("limit", &self.limit)
            .field("reserved", &self.reserved)
            .finish()
    }
}

/// Starts and runs the guest; returns the exit status.
pub fn main<E: Executor>(
    p: &mut dyn Platform,
    image: &'static [u8],
    config: &[u8],
    mem: &mut GuestMem,
    space: Space,
    exec: &mut E,
) -> i32 {
    let image = match vfs_pack::Image::parse_unchecked(image) {
        Ok(i) => i,
        Err(e) => {
            let _ = p.write(
                2,
                format!("oci2wasm: corrupt filesystem image: {e}\n").as_bytes(),
            );
            return 125;
        }
    };
    let vfs = Vfs::new(image, p);
    let cfg = RunConfig::parse(config);
    let (args, env) = (p.args(), p.env());
    let started = plan(&cfg, &args, &env, &vfs, p).and_then(|l| {
        let mut mm = Mm::new(space.grow, space.limit);
        mm.reserve(space.reserved);
        boot(&l, vfs, mm, mem, p)
    });
    match started {
        Ok((mut proc, mut cpu)) => {
            // The loader's own mappings are not changes to code an executor knows yet.
            for (addr, len) in proc.mm.take_changed() {
                exec.invalidate(addr, len);
            }
            exec.program_loaded(&proc.exe_file);
            run(&mut proc, &mut cpu, mem, p, exec)
        }
        Err(e) => {
            let _ = p.write(2, format!("{}\n", e.message()).as_bytes());
            e.status()
        }
    }
}

/// The interpreter alone as the executor (`_start` uses [`crate::lifted::LiftedExecutor`],
/// which is this when no lifted code applies).
#[derive(Debug)]
pub struct InterpExecutor(pub crate::interp::Interp);

impl Executor for InterpExecutor {
    fn run(&mut self, cpu: &mut Cpu, mem: &mut GuestMem, budget: u64) -> Stop {
        crate::lifted::stop_of(self.0.run(cpu, mem, budget))
    }
    fn invalidate(&mut self, addr: u64, len: u64) {
        self.0.invalidate(addr, len);
    }
    fn rflags(cpu: &Cpu) -> u64 {
        crate::interp::rflags(cpu)
    }
    fn set_rflags(cpu: &mut Cpu, v: u64) {
        crate::interp::set_rflags(cpu, v);
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(test)]
mod e2e;
#[cfg(test)]
mod tests;
