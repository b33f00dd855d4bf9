//! A unified-diff-like excerpt of two outputs, for `verify`'s report.
//!
//! Lines common to both ends are trimmed first; what remains is diffed by longest common
//! subsequence when it is small, or shown whole (old lines, then new) when it is not. Hunks carry
//! three lines of context and the excerpt stops after [`MAX_LINES`] lines. Non-UTF-8 bytes are
//! shown escaped, and the first differing byte offset is always named, so invisible differences
//! (a missing final newline, `\r`) are still found.

use std::fmt::Write as _;

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// The most lines an excerpt shows.
pub const MAX_LINES: usize = 60;
/// Above this many cells (old lines x new lines) the middle is not diffed line by line.
const MAX_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Same(usize),
    Del(usize),
    Add(usize),
}

/// Splits after each `\n` (the last line may lack one).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

/// The edit script turning `a` into `b`, by line.
fn script(a: &[&[u8]], b: &[&[u8]]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op> = (0..prefix).map(Op::Same).collect();
    if am.len().saturating_mul(bm.len()) <= MAX_CELLS {
        // lcs[i][j]: longest common subsequence of am[i..] and bm[j..].
        let w = bm.len() + 1;
        let mut lcs = vec![0u32; (am.len() + 1) * w];
        for i in (0..am.len()).rev() {
            for j in (0..bm.len()).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                ops.push(Op::Same(prefix + i));
                (i, j) = (i + 1, j + 1);
            } else if i < am.len() && (j == bm.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                ops.push(Op::Del(prefix + i));
                i += 1;
            } else {
                ops.push(Op::Add(prefix + j));
                j += 1;
            }
        }
    } else {
        ops.extend((0..am.len()).map(|i| Op::Del(prefix + i)));
        ops.extend((0..bm.len()).map(|j| Op::Add(prefix + j)));
    }
    let end = a.len() - suffix;
    ops.extend((0..suffix).map(|k| Op::Same(end + k)));
    ops
}

/// One line for display: UTF-8 as is, other bytes and control characters escaped, the newline
/// dropped (a missing final newline is marked).
fn show(line: &[u8]) -> String {
    let (body, newline) = match line.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (line, false),
    };
    let mut out = String::new();
    for chunk in body.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if !newline {
        out.push_str("  (no newline at end)");
    }
    out
}

/// The excerpt for `what` (e.g. "stdout"): empty when `a == b`.
pub fn excerpt(what: &str, a: &[u8], b: &[u8]) -> String {
    if a == b {
        return String::new();
    }
    let first = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let mut out = format!(
        "--- native {what} ({} bytes)\n+++ converted {what} ({} bytes)\n(first difference at byte {first})\n",
        a.len(),
        b.len()
    );
    let (la, lb) = (lines(a), lines(b));
    let ops = script(&la, &lb);
    let changed: Vec<usize> = (0..ops.len())
        .filter(|&k| !matches!(ops[k], Op::Same(_)))
        .collect();
    let mut shown = 0;
    let mut k = 0;
    while k < changed.len() {
        // A hunk: changes closer than 2 * CONTEXT lines apart are merged.
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k + 1 < changed.len() && changed[k + 1] <= end + 2 * CONTEXT + 1 {
            k += 1;
            end = changed[k];
        }
        k += 1;
        let end = (end + CONTEXT + 1).min(ops.len());
        let line_a = ops[start..]
            .iter()
            .find_map(|op| match op {
                Op::Same(i) | Op::Del(i) => Some(i + 1),
                Op::Add(_) => None,
            })
            .unwrap_or(la.len());
        let _ = writeln!(out, "@@ native line {line_a} @@");
        for op in &ops[start..end] {
            if shown == MAX_LINES {
                let _ = writeln!(out, "... (excerpt cut at {MAX_LINES} lines)");
                return out;
            }
            let (sign, line) = match *op {
                Op::Same(i) => (' ', la[i]),
                Op::Del(i) => ('-', la[i]),
                Op::Add(j) => ('+', lb[j]),
            };
            let _ = writeln!(out, "{sign}{}", show(line));
            shown += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_outputs_have_no_excerpt() {
        assert_eq!(excerpt("stdout", b"a\n", b"a\n"), "");
    }

    #[test]
    fn a_changed_line_is_shown_with_context() {
        let a = b"1\n2\n3\n4\n5\n6\n7\n8\n";
        let b = b"1\n2\n3\n4\nfive\n6\n7\n8\n";
        let e = excerpt("stdout", a, b);
        assert!(
            e.contains("@@ native line 2 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"),
            "{e}"
        );
        assert!(e.contains("first difference at byte 8"), "{e}");
    }

    #[test]
    fn added_lines_and_missing_newlines_and_bytes_are_visible() {
        let e = excerpt("stderr", b"x\n", b"x\ny\xff");
        assert!(e.contains("+y\\xff  (no newline at end)"), "{e}");
        let e = excerpt("stdout", b"a\r\n", b"a\n");
        assert!(e.contains("-a\\r"), "{e}");
    }

    #[test]
    fn long_excerpts_are_cut() {
        let a: Vec<u8> = (0..500)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let e = excerpt("stdout", &a, b"");
        assert!(e.ends_with("... (excerpt cut at 60 lines)\n"), "{e}");
    }
}
