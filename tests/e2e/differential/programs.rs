//! C programs native vs interpreted vs lifted: every static musl fixture program
//! (fixtures/README.md), and faults — an invalid opcode (132), a write through a null pointer
//! (139; lifted code checks addresses below 64 KiB), unbounded recursion (139, and never a host
//! crash), an unknown syscall (ENOSYS) — from tiny programs compiled here with
//! `musl-gcc -static` into a `dir:` image.

use std::path::Path;
use std::process::Command;

use super::{Case, Converted, KnownFailure, Mode, Table, check_table};
use crate::support::oci_ref;

/// `(program, arguments, stdin)` ([`Case`] with the program as the name); each runs as `--entrypoint /usr/local/bin/PROGRAM`.
const MUSL: &[Case] = &[
    ("hello", &["one", "two words"], None),
    ("exitcode", &["0"], None),
    ("exitcode", &["42"], None),
    ("exitcode", &["300"], None),
    ("floats", &[], None),
    ("allocs", &[], None),
    ("sorting", &[], None),
    ("strings", &[], None),
    ("jumps", &[], None),
    ("files", &[], None),
    ("clocks", &[], None),
    ("random", &[], None),
    ("stdin", &[], Some(b"first line\nsecond line\n")),
    ("fenv", &[], None),
];

/// Fixture programs that still differ, with the reason; each must still differ.
const MUSL_KNOWN_FAILING: &[KnownFailure] = &[];

/// Fixture programs that agree interpreted but still differ lifted, with the reason.
const MUSL_KNOWN_FAILING_LIFTED: &[KnownFailure] = &[];

#[test]
fn musl_fixture_programs_match_native() {
    let image = oci_ref("musl");
    let converted = Mode::ALL.map(|mode| Converted::new("musl", &image, mode, &[]));
    let table = Table {
        cases: MUSL,
        known_failing: MUSL_KNOWN_FAILING,
        known_failing_lifted: MUSL_KNOWN_FAILING_LIFTED,
    };
    check_table(&converted.each_ref(), &table, |program| {
        vec![
            "--entrypoint".to_string(),
            format!("/usr/local/bin/{program}"),
        ]
    });
}

/// The fault programs: name, source, the status both sides must end with.
const FAULTS: &[(&str, &str, u8)] = &[
    (
        "ud2",
        "#include <stdio.h>\nint main(void) { puts(\"before\"); fflush(stdout); __asm__ volatile(\"ud2\"); return 0; }\n",
        132,
    ),
    (
        "nullwrite",
        "#include <stdio.h>\nint main(void) { puts(\"before\"); fflush(stdout); *(volatile int *)0 = 1; return 0; }\n",
        139,
    ),
    (
        "recurse",
        "static int depth(volatile int n) { volatile char pad[512]; pad[0] = (char)n; return depth(n + 1) + pad[0]; }\nint main(void) { return depth(0); }\n",
        139,
    ),
    (
        "enosys",
        "#include <errno.h>\n#include <stdio.h>\n#include <unistd.h>\nint main(void) { long r = syscall(1000); printf(\"%ld %s\\n\", r, errno == ENOSYS ? \"ENOSYS\" : \"other\"); return 0; }\n",
        0,
    ),
];

/// Compiles [`FAULTS`] into `root/usr/local/bin`.
fn build_faults(root: &Path) {
    let bin = root.join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, source, _) in FAULTS {
        let src = root.join(format!("{name}.c"));
        std::fs::write(&src, source).unwrap();
        let status = Command::new("musl-gcc")
            .args(["-static", "-O0", "-o"])
            .arg(bin.join(name))
            .arg(&src)
            .status()
            .expect("run musl-gcc (apt-get install musl-tools)");
        assert!(status.success(), "musl-gcc {name}.c");
        std::fs::remove_file(&src).unwrap();
    }
}

#[test]
fn faults_end_the_guest_like_native() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("faults");
    build_faults(&root);
    let image = format!("dir:{}", root.display());
    let cmd = format!("/usr/local/bin/{}", FAULTS[0].0);
    let mut problems = Vec::new();
    for mode in Mode::ALL {
        let converted = Converted::new("faults", &image, mode, &["--cmd", &cmd]);
        for &(name, _, status) in FAULTS {
            let entrypoint = format!("/usr/local/bin/{name}");
            let out = converted.verify(
                &["--json", "--ignore-stderr", "--entrypoint", &entrypoint],
                &[],
                None,
            );
            let name = format!("{name} ({})", mode.name());
            let Ok(result) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
                problems.push(format!("{name}: {}", String::from_utf8_lossy(&out.stderr)));
                continue;
            };
            let (native, converted) = (&result["native"], &result["converted"]);
            if native["status"] != status || converted["status"] != status {
                problems.push(format!("{name}: expected status {status}: {result:#}"));
            }
            if native["stdout"] != converted["stdout"] {
                problems.push(format!("{name}: stdout differs: {result:#}"));
            }
            let message = converted["stderr"].as_str().unwrap_or_default();
            if status != 0 && message.trim().is_empty() {
                problems.push(format!(
                    "{name}: no message on the converted stderr: {result:#}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `verify` itself: a difference is status 1 with a report, an error status 2.
#[test]
fn verify_reports_differences_and_errors() {
    let busybox = Converted::busybox(Mode::Lifted);
    // The converted side sees /proc from the runtime; the native chroot has none.
    let out = busybox.verify(&[], &["ls", "/proc/self/fd/0"], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("differ in"), "{report}");
    let out = busybox.verify(&["--stdin", "/nonexistent/file"], &["cat"], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
