//! Busybox applets on the busybox fixture, native vs interpreted vs lifted: text tools, sed and
//! awk programs, checksums, encoders, compressors and tar writing to stdout, find/ls/stat on the
//! image, printf, dc/bc/factor/seq/expr, `sh -c` with builtins only (no fork yet), and failing
//! commands with their exit statuses. Inputs are the image's files or stdin given here. And the
//! share of instructions that run in lifted code on a few heavier workloads
//! ([`lifted_share_of_instructions`]).
//!
//! Each case is one process: the image's Entrypoint is `/bin/busybox`, so the arguments start
//! with the applet's name. Outputs that depend on the host are avoided: `ls -l` totals and `du`
//! (block counts depend on the host filesystem), `find` over directories with several entries
//! (readdir order), `id` groups, `hostname`, `uname -r`.

use super::{Case, Converted, KnownFailure, Mode, Table, check_table};

const FRUIT: &[u8] = b"banana\napple\ncherry\napple\ndate\nelderberry\nfig\nbanana\n";
const CSV: &[u8] = b"name,age,city\nalice,30,paris\nbob,25,berlin\ncarol,35,rome\n";
const NUMS: &[u8] = b"3\n1\n4\n1\n5\n9\n2\n6\n5\n3\n5\n";
const RUNS: &[u8] = b"a\na\nb\nc\nc\nc\nd\n";
const TABS: &[u8] = b"a\tb\tc\n\tindented\nx\t\ty\n";
/// `printf 'hello gzip\nsecond line\n' | gzip -n`.
const GZ: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xaf\xca\x2c\xe0\x2a\x4e\x4d\xce\xcf\x4b\x51\xc8\xc9\xcc\x4b\xe5\x02\x00\x63\x78\x66\xeb\x17\x00\x00\x00";
const B64: &[u8] = b"aGVsbG8gZnJvbSBiYXNlNjQK\n";

/// Invocations that must agree byte for byte in stdout, stderr and exit status.
pub const CASES: &[Case] = &[
    // text tools
    ("cat", &["cat", "/etc/passwd"], None),
    ("cat-n", &["cat", "-n", "/etc/passwd", "/etc/group"], None),
    ("head", &["head", "-n", "3"], Some(FRUIT)),
    ("tail", &["tail", "-n", "2", "/etc/passwd"], None),
    ("head-c", &["head", "-c", "64", "/bin/busybox"], None),
    ("tail-c", &["tail", "-c", "100", "/bin/busybox"], None),
    (
        "cut-fields",
        &["cut", "-d:", "-f1,3,6", "/etc/passwd"],
        None,
    ),
    ("cut-chars", &["cut", "-c", "2-4"], Some(FRUIT)),
    ("tr-upper", &["tr", "a-z", "A-Z"], Some(FRUIT)),
    ("tr-delete", &["tr", "-d", "aeiou"], Some(FRUIT)),
    ("tr-squeeze", &["tr", "-s", "a-z"], Some(FRUIT)),
    ("sort", &["sort"], Some(FRUIT)),
    ("sort-r", &["sort", "-r"], Some(FRUIT)),
    ("sort-n", &["sort", "-n"], Some(NUMS)),
    ("sort-u", &["sort", "-u"], Some(FRUIT)),
    ("sort-key", &["sort", "-t,", "-k2", "-n"], Some(CSV)),
    ("uniq-c", &["uniq", "-c"], Some(RUNS)),
    ("uniq-d", &["uniq", "-d"], Some(RUNS)),
    ("wc", &["wc"], Some(FRUIT)),
    ("wc-l", &["wc", "-l", "/etc/passwd", "/etc/group"], None),
    ("nl", &["nl"], Some(FRUIT)),
    ("rev", &["rev"], Some(FRUIT)),
    ("tac", &["tac"], Some(FRUIT)),
    ("fold", &["fold", "-w", "4"], Some(FRUIT)),
    ("expand", &["expand"], Some(TABS)),
    (
        "unexpand",
        &["unexpand", "-a"],
        Some(b"a       b       c\n"),
    ),
    ("paste", &["paste", "-s", "-d,"], Some(NUMS)),
    ("strings", &["strings", "-n", "8", "/etc/passwd"], None),
    ("grep", &["grep", "root", "/etc/passwd"], None),
    ("grep-c", &["grep", "-c", "an"], Some(FRUIT)),
    ("grep-v", &["grep", "-v", "an"], Some(FRUIT)),
    ("grep-ni", &["grep", "-n", "-i", "APPLE"], Some(FRUIT)),
    ("grep-o", &["grep", "-o", "an*"], Some(FRUIT)),
    (
        "grep-w",
        &["grep", "-w", "root", "/etc/passwd", "/etc/group"],
        None,
    ),
    ("grep-E", &["grep", "-E", "[0-9]{2},[a-z]+$"], Some(CSV)),
    ("egrep", &["egrep", "^(a|b)"], Some(FRUIT)),
    ("sed-s", &["sed", "s/a/A/g"], Some(FRUIT)),
    ("sed-n", &["sed", "-n", "2,4p"], Some(FRUIT)),
    ("sed-d", &["sed", "/apple/d"], Some(FRUIT)),
    ("sed-tac", &["sed", "-e", "1!G;h;$!d"], Some(FRUIT)),
    (
        "sed-E",
        &["sed", "-E", "s/([a-z]+),([0-9]+)/\\2:\\1/"],
        Some(CSV),
    ),
    ("awk-nr", &["awk", "{print NR \": \" $0}"], Some(FRUIT)),
    (
        "awk-fields",
        &["awk", "-F:", "{print $1, $3 + $4, NF}", "/etc/passwd"],
        None,
    ),
    (
        "awk-printf",
        &[
            "awk",
            "BEGIN { printf \"%.3f %e %g %d %x %c %5s|\\n\", 3.14159, 12345.678, 0.0001, 42, 255, 65, \"ab\" }",
        ],
        None,
    ),
    (
        "awk-math",
        &[
            "awk",
            "BEGIN { print sin(1), cos(1), atan2(1, 2), exp(1), log(10), sqrt(2), int(-3.7), 2^53, 1e300 * 1e10 }",
        ],
        None,
    ),
    (
        "awk-sum",
        &[
            "awk",
            "-F,",
            "NR > 1 { s += $2 } END { print s, s / (NR - 1) }",
        ],
        Some(CSV),
    ),
    (
        "awk-arrays",
        &[
            "awk",
            "{ n[$1]++ } END { print length(n), n[\"apple\"], n[\"banana\"] }",
        ],
        Some(FRUIT),
    ),
    (
        "awk-strings",
        &[
            "awk",
            "{ print toupper(substr($0, 1, 3)), length($0), index($0, \"an\") }",
        ],
        Some(FRUIT),
    ),
    // checksums and encoders
    ("md5sum", &["md5sum", "/bin/busybox"], None),
    ("sha1sum", &["sha1sum", "/bin/busybox"], None),
    (
        "sha256sum",
        &["sha256sum", "/bin/busybox", "/etc/passwd"],
        None,
    ),
    ("sha512sum", &["sha512sum", "/etc/passwd"], None),
    ("sha3sum", &["sha3sum", "/etc/group"], None),
    ("crc32", &["crc32", "/etc/passwd"], None),
    ("md5sum-stdin", &["md5sum"], Some(FRUIT)),
    ("base64", &["base64", "/etc/passwd"], None),
    ("base64-d", &["base64", "-d"], Some(B64)),
    ("od", &["od", "-A", "x", "-t", "x1z", "/etc/group"], None),
    (
        "od-x8",
        &["od", "-t", "x8", "-N", "64", "/bin/busybox"],
        None,
    ),
    ("hexdump", &["hexdump", "-C", "/etc/group"], None),
    ("xxd", &["xxd", "/etc/passwd"], None),
    ("uuencode", &["uuencode", "/etc/group", "group"], None),
    // compression and archives, to stdout
    ("gzip", &["gzip", "-c", "/etc/passwd"], None),
    ("gzip-stdin", &["gzip", "-c", "-9"], Some(FRUIT)),
    ("gunzip", &["gunzip", "-c"], Some(GZ)),
    ("bzip2", &["bzip2", "-c"], Some(FRUIT)),
    ("tar-c", &["tar", "-cf", "-", "/etc"], None),
    // the image's files
    ("ls", &["ls", "/bin"], None),
    (
        "ls-l",
        &[
            "ls",
            "-l",
            "/etc/passwd",
            "/etc/group",
            "/var/www/index.html",
            "/bin/sh",
        ],
        None,
    ),
    ("ls-ln", &["ls", "-lna", "/home"], None),
    ("ls-1F", &["ls", "-1F", "/usr/bin"], None),
    ("find-name", &["find", "/bin", "-name", "busybox"], None),
    ("find-type", &["find", "/var", "-type", "f"], None),
    (
        "stat",
        &[
            "stat",
            "-c",
            "%n %s %a %u %g %F %Y",
            "/etc/passwd",
            "/bin/busybox",
            "/bin/sh",
            "/tmp",
        ],
        None,
    ),
    ("readlink", &["readlink", "/bin/sh"], None),
    ("realpath", &["realpath", "/usr/bin/awk"], None),
    ("pwd", &["pwd"], None),
    ("cmp", &["cmp", "/etc/passwd", "/etc/group"], None),
    ("diff", &["diff", "/etc/passwd", "/etc/group"], None),
    // numbers
    (
        "printf-floats",
        &[
            "printf",
            "%f %e %g %x %o %5.2f|%-5s|\\n",
            "3.14159",
            "31415.9",
            "0.00001234",
            "255",
            "8",
            "2.5",
            "ab",
        ],
        None,
    ),
    (
        "printf-precision",
        &[
            "printf",
            "%.20f %g %g %g\\n",
            "0.1",
            "1e100",
            "0.1",
            "123456789",
        ],
        None,
    ),
    ("dc", &["dc", "-e", "2 64 ^ p 10 3 / p 20 k 1 3 / p"], None),
    (
        "bc",
        &["bc", "-l"],
        Some(b"scale=30\n4*a(1)\ne(1)\nsqrt(2)\n2^100\n"),
    ),
    (
        "factor",
        &["factor", "123456789", "1001", "97", "4294967296"],
        None,
    ),
    ("seq", &["seq", "1", "3", "20"], None),
    ("seq-w", &["seq", "-w", "8", "12"], None),
    ("seq-float", &["seq", "0.5", "0.25", "2"], None),
    ("expr-mul", &["expr", "6", "*", "7"], None),
    ("expr-big", &["expr", "2147483647", "+", "1"], None),
    ("expr-substr", &["expr", "substr", "hello", "2", "3"], None),
    ("basename", &["basename", "/a/b/c.txt", ".txt"], None),
    ("dirname", &["dirname", "/a/b/c.txt"], None),
    ("date", &["date", "-u", "-d", "@1700000000"], None),
    (
        "date-format",
        &["date", "-u", "-d", "@0", "+%Y-%m-%dT%H:%M:%S %j %a"],
        None,
    ),
    // identity and environment
    ("echo", &["echo", "hello", "world"], None),
    ("env", &["env"], None),
    ("printenv", &["printenv", "HOME", "GREETING"], None),
    ("whoami", &["whoami"], None),
    ("id-u", &["id", "-un"], None),
    ("uname", &["uname", "-sm"], None),
    // sh -c with builtins only
    (
        "sh-loop",
        &["sh", "-c", "for i in 1 2 3; do echo $((i * i)); done"],
        None,
    ),
    (
        "sh-case",
        &[
            "sh",
            "-c",
            "x=5; case $x in 5) echo five;; *) echo other;; esac; [ $x -gt 3 ] && echo big",
        ],
        None,
    ),
    (
        "sh-args",
        &[
            "sh",
            "-c",
            "set -- a b c; echo $# $2; printf '%s-' \"$@\"; echo",
        ],
        None,
    ),
    (
        "sh-read",
        &["sh", "-c", "while read a b; do echo \"$b $a\"; done"],
        Some(b"one two\nthree four\n"),
    ),
    (
        "sh-arith",
        &[
            "sh",
            "-c",
            "echo $(( (7 << 3) % 5 )) $(( 1 << 62 )) $(( -7 / 2 ))",
        ],
        None,
    ),
    (
        "sh-test",
        &[
            "sh",
            "-c",
            "test -f /etc/passwd && test ! -d /etc/passwd && echo ok",
        ],
        None,
    ),
    // failures and exit statuses
    ("true", &["true"], None),
    ("false", &["false"], None),
    ("cat-missing", &["cat", "/nonexistent"], None),
    ("cat-relative", &["cat", "../../etc/group"], None),
    ("grep-nomatch", &["grep", "nomatch", "/etc/passwd"], None),
    ("test-false", &["test", "1", "-eq", "2"], None),
    ("sh-exit", &["sh", "-c", "exit 42"], None),
    ("expr-zero", &["expr", "1", "=", "2"], None),
    ("ls-missing", &["ls", "/nonexistent"], None),
    ("unknown-applet-option", &["sort", "--bogus"], None),
];

/// Invocations that still differ, with the reason; each must still differ.
pub const KNOWN_FAILING: &[KnownFailure] = &[
    (
        "zcat",
        &["zcat"],
        Some(GZ),
        "busybox zcat forks a decompressor (clone, syscall 56): no fork in the runtime yet",
    ),
    (
        "tar-cz",
        &["tar", "-czf", "-", "/var/www"],
        None,
        "busybox tar -z vforks gzip (vfork, syscall 58): no fork in the runtime yet",
    ),
];

/// Invocations that agree interpreted but still differ lifted, with the reason (a lifter bug);
/// each must still agree interpreted and still differ lifted.
pub const KNOWN_FAILING_LIFTED: &[KnownFailure] = &[];

#[test]
fn busybox_applets_match_native() {
    assert!(CASES.len() >= 60, "only {} cases", CASES.len());
    let converted = Mode::ALL.map(Converted::busybox);
    let table = Table {
        cases: CASES,
        known_failing: KNOWN_FAILING,
        known_failing_lifted: KNOWN_FAILING_LIFTED,
    };
    check_table(&converted, &table, |_| Vec::new());
}

/// Heavier workloads for [`lifted_share_of_instructions`], over the files of
/// [`write_stats_inputs`] mounted at `/data`.
const STATS_WORKLOADS: &[(&str, &[&str])] = &[
    ("sha256sum", &["sha256sum", "/data/random.bin"]),
    ("sort", &["sort", "/data/lines.txt"]),
    ("gzip", &["gzip", "-c", "-6", "/data/lines.txt"]),
    (
        "awk-loop",
        &[
            "awk",
            "BEGIN { for (i = 0; i < 30000; i++) s += i % 7 * 1.5; print s }",
        ],
    ),
    (
        "awk-keys",
        &[
            "awk",
            "{ n[$1]++; s[$1] += $2 } END { for (k in n) t += s[k] / n[k]; printf \"%d %.3f\\n\", length(n), t }",
            "/data/lines.txt",
        ],
    ),
];

/// The lowest share of instructions that must run in lifted code on each of
/// [`STATS_WORKLOADS`] (97-100% when measured).
const MIN_LIFTED_PERCENT: f64 = 90.0;

/// Writes `random.bin` (4 MiB of pseudo-random bytes) and `lines.txt` (50 K lines `wordN
/// number`), from a fixed seed.
fn write_stats_inputs(dir: &std::path::Path) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let random: Vec<u8> = (0..(4 << 20) / 8)
        .flat_map(|_| next().to_le_bytes())
        .collect();
    std::fs::write(dir.join("random.bin"), random).unwrap();
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    let mut lines = String::new();
    for _ in 0..50_000 {
        let (word, n, value) = (next() % 7, next() % 1000, next() % 100_000);
        lines.push_str(&format!("{}{n} {value}\n", words[word as usize]));
    }
    std::fs::write(dir.join("lines.txt"), lines).unwrap();
}

/// `instructions, lifted` from the runtime's `oci2wasm: stats: N instructions, M lifted (P%),
/// ...` line.
fn parse_stats(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("oci2wasm: stats: "))?;
    let mut words = line.split([' ', ',']).filter(|w| !w.is_empty());
    let total = words.next()?.parse().ok()?;
    (words.next()? == "instructions").then_some(())?;
    let lifted = words.next()?.parse().ok()?;
    (words.next()? == "lifted").then_some(())?;
    Some((total, lifted))
}

/// Busybox lifted (`--lift all`) with `OCI2WASM_STATS=1`: prints the share of instructions that
/// ran in lifted code per workload, each at least [`MIN_LIFTED_PERCENT`], and checks the
/// sha256sum it printed.
#[test]
fn lifted_share_of_instructions() {
    let busybox = Converted::busybox(Mode::Lifted);
    let data = tempfile::tempdir().unwrap();
    write_stats_inputs(data.path());
    let mount = format!("{}:/data:ro", data.path().display());
    let mut problems = Vec::new();
    for &(name, args) in STATS_WORKLOADS {
        let started = std::time::Instant::now();
        let mut cmd = crate::support::oci2wasm(&busybox.cache);
        cmd.arg("run")
            .arg(&busybox.component)
            .args(["--env", "OCI2WASM_STATS=1", "--mount", &mount, "--"])
            .args(args);
        let out = super::output_within(cmd, std::time::Duration::from_secs(300));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let Some((total, lifted)) = parse_stats(&stderr).filter(|_| out.status.success()) else {
            problems.push(format!("{name}: {:?}, stderr:\n{stderr}", out.status));
            continue;
        };
        let percent = 100.0 * lifted as f64 / total.max(1) as f64;
        eprintln!(
            "{name}: {percent:.1}% lifted of {total} instructions ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        if percent < MIN_LIFTED_PERCENT {
            problems.push(format!("{name}: only {percent:.1}% lifted: {stderr}"));
        }
        if name == "sha256sum" {
            use sha2::Digest as _;
            let random = std::fs::read(data.path().join("random.bin")).unwrap();
            let expected = format!(
                "{}  /data/random.bin\n",
                hex::encode(sha2::Sha256::digest(random))
            );
            if out.stdout != expected.as_bytes() {
                problems.push(format!(
                    "sha256sum printed {:?}, expected {expected:?}",
                    String::from_utf8_lossy(&out.stdout)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
