//! `convert` and `run`: the busybox fixture becomes a valid component and a `topology.json` that
//! matches its config; bad images are refused and leave no files; the component runs in the
//! embedded runner and in stock `wasmtime`, with the guest's stdout and exit status.
//!
//! These tests compose with the stand-in runtime (`oci2wasm_compose::standin`, passed with
//! `--runtime`), which prints the packed filesystem's magic and the run configuration and exits
//! with a known status: the pipeline is tested without depending on the real runtime's progress.

use std::path::{Path, PathBuf};
use std::process::Command;

use oci2wasm_compose::standin;
use serde_json::json;

use crate::support::{Entry, LayoutWriter, gzip_tar, oci_ref, oci2wasm, run};

/// Writes the stand-in runtime into `dir` and returns its path.
fn standin_runtime(dir: &Path) -> PathBuf {
    let path = dir.join("standin-runtime.wasm");
    std::fs::write(&path, standin::runtime(true)).unwrap();
    path
}

/// `convert IMAGE -o OUT --runtime STANDIN -q` plus `extra`; returns the output.
fn convert(cache: &Path, image: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let runtime = standin_runtime(cache);
    let mut args = vec![
        "convert",
        "-q",
        image,
        "-o",
        out.to_str().unwrap(),
        "--runtime",
        runtime.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(cache, &args)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn busybox_converts_to_a_valid_component_and_topology() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let image = oci_ref("busybox");
    let result = convert(tmp.path(), &image, &out, &[]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(files_in(&out), ["busybox.wasm", "topology.json"]);

    let component = std::fs::read(out.join("busybox.wasm")).unwrap();
    assert!(wasmparser::Parser::is_component(&component));
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&component)
        .expect("the component validates");

    let topology: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("topology.json")).unwrap()).unwrap();
    assert_eq!(topology["schema"], "oci2wasm/topology/v1");
    assert_eq!(topology["component"]["file"], "busybox.wasm");
    assert_eq!(topology["component"]["size"], component.len());
    assert_eq!(
        topology["component"]["digest"],
        oci2wasm_compose::sha256_digest(&component)
    );
    assert_eq!(topology["image"]["reference"], image);
    assert!(
        topology["image"]["manifest_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // What fixtures/build.sh configures for busybox.
    assert_eq!(topology["entrypoint"], json!(["/bin/busybox"]));
    assert_eq!(topology["cmd"], json!(["sh"]));
    assert_eq!(
        topology["env"],
        json!(["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"])
    );
    assert_eq!(topology["workdir"], "/home/user");
    assert_eq!(topology["user"], "0:0");
    assert_eq!(topology["exposed_ports"], json!(["8080/tcp"]));
    assert_eq!(topology["volumes"], json!(["/data"]));
    assert_eq!(
        topology["labels"]["org.opencontainers.image.title"],
        "oci2wasm-busybox-fixture"
    );
    assert_eq!(topology["stop_signal"], "SIGTERM");
    assert_eq!(topology["program"]["path"], "/bin/busybox");
    assert_eq!(topology["program"]["linking"], "static");

    // Converting again into the existing directory replaces the files with identical bytes.
    let again = convert(tmp.path(), &image, &out, &[]);
    assert!(again.status.success());
    assert_eq!(files_in(&out), ["busybox.wasm", "topology.json"]);
    assert!(
        std::fs::read(out.join("busybox.wasm")).unwrap() == component,
        "deterministic"
    );
}

/// What the stand-in's `_start` prints: the filesystem magic, then the config records.
fn check_standin_output(stdout: &[u8]) {
    assert!(stdout.starts_with(b"VFSPACK\0"), "stdout: {stdout:?}");
    let records: Vec<_> = libc_shim_records(&stdout[8..]);
    assert_eq!(records[..2], ["/bin/busybox", "sh"]);
    assert!(records.contains(&"GREETING=hello".to_string()));
    assert!(records.contains(&"/home/user".to_string()));
}

/// The record bodies of a run configuration (`[tag][len][body, padded to 4]`).
fn libc_shim_records(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&bytes[8..8 + len]).into_owned());
        bytes = &bytes[(8 + len.div_ceil(4) * 4).min(bytes.len())..];
    }
    out
}

#[test]
fn converted_image_runs_with_its_exit_status_in_both_runners() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let result = convert(tmp.path(), &oci_ref("busybox"), &out, &["--name", "bb"]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let wasm = out.join("bb.wasm");

    // Twice: the first run compiles and caches, the second loads the cached code.
    for round in 0..2 {
        let result = run(
            tmp.path(),
            &["run", wasm.to_str().unwrap(), "--", "ls", "/"],
        );
        assert_eq!(
            result.status.code(),
            Some(standin::EXIT_STATUS),
            "round {round}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        check_standin_output(&result.stdout);
        let compiled: Vec<_> = files_in(&tmp.path().join("compiled"))
            .into_iter()
            .filter(|f| f.ends_with(".cwasm"))
            .collect();
        assert_eq!(compiled.len(), 1, "one cached compilation: {compiled:?}");
    }

    let result = Command::new("wasmtime")
        .arg("run")
        .arg(&wasm)
        .output()
        .expect("stock wasmtime (installed by scripts/setup.sh)");
    assert_eq!(result.status.code(), Some(standin::EXIT_STATUS));
    check_standin_output(&result.stdout);
}

#[test]
fn failed_conversions_leave_no_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let missing = format!("oci:{}:latest", tmp.path().join("nope").display());
    assert!(!convert(tmp.path(), &missing, &out, &[]).status.success());
    assert!(!out.exists(), "no output directory");

    std::fs::create_dir(&out).unwrap();
    assert!(!convert(tmp.path(), &missing, &out, &[]).status.success());
    assert!(files_in(&out).is_empty());
    let bad_name = convert(tmp.path(), &oci_ref("busybox"), &out, &["--name", "a/b"]);
    assert!(!bad_name.status.success());
    assert!(files_in(&out).is_empty());
    let files: Vec<_> = files_in(tmp.path());
    assert!(
        files.iter().all(|f| !f.starts_with(".oci2wasm")),
        "no temporary files left: {files:?}"
    );
}

/// A 64-byte ELF64 header for an aarch64 executable: enough to be recognised, not to run.
fn aarch64_elf() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4..7].copy_from_slice(&[2, 1, 1]); // 64-bit, little-endian, version 1
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[24..32].copy_from_slice(&0x400000u64.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h[54..56].copy_from_slice(&56u16.to_le_bytes());
    h[58..60].copy_from_slice(&64u16.to_le_bytes());
    h
}

#[test]
fn a_non_x86_64_entrypoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // LayoutWriter's config runs Cmd ["/bin/sh"].
    let elf = aarch64_elf();
    let layer = gzip_tar(&[Entry::Dir(b"bin/"), Entry::File(b"bin/sh", &elf)]);
    let layout = LayoutWriter::image(&tmp.path().join("arm"), &[layer]);
    let out = tmp.path().join("out");
    let result = convert(tmp.path(), &layout.reference(), &out, &[]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("/bin/sh") && stderr.contains("aarch64") && stderr.contains("x86-64"),
        "clear refusal: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    assert!(!out.exists());
}

#[test]
fn help_shows_examples() {
    let tmp = tempfile::tempdir().unwrap();
    for command in ["convert", "run"] {
        let out = oci2wasm(tmp.path())
            .args([command, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Examples:"),
            "{command}: {help}"
        );
    }
}

/// `oci2wasm run COMPONENT [ARGS]` with the cache in `cache`; returns (status, stdout).
fn run_component(cache: &Path, wasm: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["run", wasm.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(cache, &args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn busybox_runs_on_the_built_in_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let result = run(
        tmp.path(),
        &[
            "convert",
            "-q",
            &oci_ref("busybox"),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let wasm = out.join("busybox.wasm");
    let cache = tmp.path();

    // ARGS replace Cmd; the image's Env and WorkingDir apply; --env overrides.
    let (status, stdout) = run_component(
        cache,
        &wasm,
        &["--", "sh", "-c", "echo $GREETING; pwd; exit 3"],
    );
    assert_eq!((status, stdout.as_str()), (Some(3), "hello\n/home/user\n"));
    let (status, stdout) = run_component(
        cache,
        &wasm,
        &["-e", "GREETING=hi", "--", "sh", "-c", "echo $GREETING"],
    );
    assert_eq!((status, stdout.as_str()), (Some(0), "hi\n"));

    // --entrypoint replaces Entrypoint (and drops Cmd); a signal death is 128 + N.
    let (status, stdout) = run_component(
        cache,
        &wasm,
        &[
            "--entrypoint",
            "/bin/sh",
            "--",
            "-c",
            "echo entry; kill -9 $$",
        ],
    );
    assert_eq!((status, stdout.as_str()), (Some(137), "entry\n"));

    // A read-only mount is readable and not writable (shell builtins only: no fork yet).
    let host = tmp.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f.txt"), "from-the-host\n").unwrap();
    let mount = format!("{}:/data:ro", host.display());
    let (status, stdout) = run_component(
        cache,
        &wasm,
        &[
            "--mount",
            &mount,
            "--",
            "sh",
            "-c",
            "read l < /data/f.txt; echo $l; echo x > /data/g.txt || echo refused",
        ],
    );
    assert_eq!(
        (status, stdout.as_str()),
        (Some(0), "from-the-host\nrefused\n")
    );
    assert!(!host.join("g.txt").exists());

    // Stock wasmtime runs the same component: its arguments replace Cmd too.
    let result = Command::new("wasmtime")
        .arg("run")
        .arg(&wasm)
        .args(["sh", "-c", "echo stock; exit 5"])
        .output()
        .expect("stock wasmtime (installed by scripts/setup.sh)");
    assert_eq!(result.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&result.stdout), "stock\n");
}
