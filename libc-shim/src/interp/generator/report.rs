//! The coverage table (`docs/coverage.md`): totals per iced `Code` and per instruction form, the
//! skip reasons by category, the lifted totals, then one row per form (the interpreter's
//! columns, then the lifted ones); and the tests that regenerate it (`BLESS=1`), check it, or
//! check a sample. The lifted columns are filled by the lifter's run
//! (`lift/tests/generator.rs`, [`LIFT_COMMAND`]); this crate's own run carries them over from
//! the committed table ([`carry_lifted`]).

use std::collections::BTreeMap;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

#[cfg(test)]
use super::{CASES, run_all, run_form, status};
use super::{Row, Tally, line};

/// Path of the table.
pub const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/coverage.md");

/// Regenerates the whole table: native, interpreted and lifted.
pub const LIFT_COMMAND: &str =
    "BLESS=1 cargo test -p oci2wasm-lift --release --test generator -- --ignored";

/// Regenerates the interpreter's columns, keeping the committed lifted ones.
const COMMAND: &str = "BLESS=1 cargo test -p libc-shim --release generator -- --ignored";

/// The lifted columns of a form's line: cases passed, failed, cases with the form inline, and
/// the status; `-` where no case ran lifted.
pub fn lifted_cells(r: &Row) -> String {
    match &r.third {
        Some(t) if t.passed + t.failed > 0 => {
            let status = if t.failed > 0 {
                format!("FAIL ({})", t.note.replace('|', "/"))
            } else {
                "ok".to_string()
            };
            format!(" {} | {} | {} | {status} |", t.passed, t.failed, t.inline)
        }
        _ => " - | - | - | - |".to_string(),
    }
}

/// A form's whole table line.
pub fn table_line(r: &Row) -> String {
    line(r) + &lifted_cells(r)
}

/// Fills each row's lifted results from its line in `table` (the committed table), so that
/// regenerating the interpreter's columns keeps the lifted ones.
pub fn carry_lifted(rows: &mut [Row], table: &str) {
    let mut old: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for l in table.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 11 {
            continue;
        }
        let (Ok(passed), Ok(failed), Ok(inline)) = (
            cells[7].parse::<usize>(),
            cells[8].parse::<usize>(),
            cells[9].parse::<usize>(),
        ) else {
            continue;
        };
        let note = cells[10]
            .strip_prefix("FAIL (")
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or("");
        let tally = Tally {
            passed,
            failed,
            inline,
            note: note.to_string(),
        };
        old.insert((cells[0].to_string(), cells[1].to_string()), tally);
    }
    for r in rows.iter_mut().filter(|r| !r.skipped) {
        let key = (format!("{:?}", r.code), r.variant.name().to_string());
        r.third = old.get(&key).cloned();
    }
}

/// Counts of one unit (iced `Code`s or instruction forms) by outcome.
#[derive(Default)]
struct Counts {
    total: usize,
    run: usize,
    passing: usize,
    failing: usize,
    not_impl: usize,
    partly: usize,
    skipped: usize,
}

impl Counts {
    /// Adds one unit made of `rows` (one form, or every form of one `Code`): skipped when none
    /// ran, not implemented when every case that ran reported an invalid opcode.
    fn add(&mut self, rows: &[&Row]) {
        self.total += 1;
        let run: Vec<&&Row> = rows.iter().filter(|r| !r.skipped).collect();
        if run.is_empty() {
            self.skipped += 1;
            return;
        }
        self.run += 1;
        let cases: usize = run.iter().map(|r| r.cases).sum();
        let not_impl: usize = run.iter().map(|r| r.not_impl).sum();
        if run.iter().any(|r| r.failed > 0) {
            self.failing += 1;
        } else if cases > 0 && not_impl == cases {
            self.not_impl += 1;
        } else if not_impl > 0 {
            self.partly += 1;
        } else if cases > 0 {
            self.passing += 1;
        }
    }
}

/// The skip category of a skipped row (cpuid features and operand kinds grouped).
fn reason(r: &Row) -> String {
    let key = r.note.split(" not claimed").next().unwrap_or("");
    let key = if key.starts_with("skipped: cpuid") {
        "skipped: cpuid feature not claimed"
    } else if key.starts_with("skipped: operand kind") {
        "skipped: unsupported operand kind"
    } else {
        key
    };
    key.trim_start_matches("skipped: ").into()
}

/// The whole table.
pub fn render(rows: &[Row], ex: &super::forms::Excluded) -> String {
    let mut forms = Counts::default();
    let mut codes = Counts::default();
    let mut by_code: BTreeMap<u32, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        forms.add(&[r]);
        by_code.entry(r.code as u32).or_default().push(r);
    }
    let mut reasons: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for group in by_code.values() {
        codes.add(group);
        for r in group.iter().filter(|r| r.skipped) {
            reasons.entry(reason(r)).or_default().1 += 1;
        }
        if let Some(r) = group.iter().find(|r| r.skipped)
            && group.iter().all(|r| r.skipped)
        {
            reasons.entry(reason(r)).or_default().0 += 1;
        }
    }
    let run: Vec<&Row> = rows.iter().filter(|r| !r.skipped).collect();
    let cases: usize = run.iter().map(|r| r.cases).sum();
    let passed: usize = run.iter().map(|r| r.passed).sum();
    let failed: usize = run.iter().map(|r| r.failed).sum();
    let min_cases = run.iter().map(|r| r.cases).min().unwrap_or(0);
    let cases_per_form = super::CASES;
    let mut s = String::new();
    s += "# Interpreter instruction coverage\n\n";
    s += &format!(
        "Generated by the instruction-test generator (`libc-shim/src/interp/generator.rs`, \
         lifted by `lift/tests/generator.rs`); regenerate the whole table with:\n\n    \
         {LIFT_COMMAND}\n\nor only the interpreter's columns (the lifted ones are carried \
         over) with:\n\n    {COMMAND}\n\n"
    );
    s += &format!(
        "Each runnable instruction form runs {cases_per_form} generated cases natively and in the \
         interpreter (edge and seeded random operands, carry in, SSE/x87 special values, MXCSR \
         rounding modes and FTZ/DAZ, x87 rounding modes and precisions) and compares \
         registers, flags (undefined flags masked), all of MXCSR and memory. Forms are counted as uops.info counts them: an iced-x86 `Code` \
         with an r/m operand is two forms, its register form (`reg`) and its memory form \
         (`mem`), each run with its own {cases_per_form} cases; a `Code` without one is one form (`-`). \
         A `Code` passes when all its forms pass. Every result is compared bit for bit except \
         where the architecture leaves it open: the rcpps/rcpss/rsqrtps/rsqrtss results, \
         which the SDM only bounds (relative error at most 1.5*2^-12; the tables are \
         implementation-specific), are compared within that bound; the x87 transcendentals \
         (fsin, fcos, fsincos, fptan, fpatan, f2xm1, fyl2x, fyl2xp1), specified to about one \
         unit in the last place, are compared within one unit of the 64-bit significand, \
         without C1 (the rounding direction of that result). The interpreter reduces \
         trigonometric arguments with the x87's 66-bit pi as the hardware does.\n\n"
    );
    s += "## Totals\n\n";
    s += "| | iced `Code`s | instruction forms (reg and mem separate) |\n|---|---|---|\n";
    let mut row = |name: &str, f: fn(&Counts) -> usize| {
        s += &format!("| {name} | {} | {} |\n", f(&codes), f(&forms));
    };
    row(
        "in the table (legacy encoding and the BMI1/BMI2 VEX forms, valid in 64-bit mode)",
        |c| c.total,
    );
    row("run", |c| c.run);
    row("passing every case", |c| c.passing);
    row("failing a case", |c| c.failing);
    row(
        "not implemented (interpreter reports an invalid opcode)",
        |c| c.not_impl,
    );
    row("partly not implemented", |c| c.partly);
    row("skipped", |c| c.skipped);
    s += &format!(
        "\nCases: {cases} (at least {min_cases} per form run), passed: {passed}, failed: \
         {failed}.\n\nSkipped, by reason (`Code`s whose every form is skipped / forms):\n\n"
    );
    for (k, (c, f)) in &reasons {
        s += &format!("- {k}: {c} / {f}\n");
    }
    s += &format!(
        "\nLeft out of the table: {} VEX (other than BMI1/BMI2)/EVEX/XOP/3DNow!/MVEX `Code`s (not \
         claimed), {} legacy \
         `Code`s invalid in 64-bit mode.\n\n",
        ex.non_legacy, ex.not_64bit
    );
    s += &lifted_totals(rows);
    s += "## Forms\n\n| Code | Form | Mnemonic | Cases | Passed | Failed | Status \
          | Lifted passed | Lifted failed | Inline | Lifted status |\n";
    s += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        s += &table_line(r);
        s += "\n";
    }
    s
}

/// The lifted totals section.
fn lifted_totals(rows: &[Row]) -> String {
    let lifted: Vec<&Tally> = rows
        .iter()
        .filter_map(|r| r.third.as_ref())
        .filter(|t| t.passed + t.failed > 0)
        .collect();
    let count = |f: &dyn Fn(&Tally) -> bool| lifted.iter().filter(|t| f(t)).count();
    let sum = |f: &dyn Fn(&Tally) -> usize| lifted.iter().map(|t| f(t)).sum::<usize>();
    let mut s = String::new();
    s += "## Lifted\n\n";
    s += "Every case the interpreter implements also runs lifted: the lifter translates the \
          snippet (its own Wasm function, entered at the snippet), wasmtime runs it with the \
          runtime's helpers played by the interpreter, and instructions the lifter does not \
          lower inline run in the interpreter as they do in the runtime. The final state is \
          compared with the native one under the same masks and tolerances. Inline counts the \
          cases in which the form's own instruction ran in lifted code rather than in the \
          interpreter (the helper, or lifted code leaving to it).\n\n";
    s += "| | instruction forms |\n|---|---|\n";
    let total = lifted.len();
    for (name, n) in [
        ("run lifted", total),
        ("passing every lifted case", count(&|t| t.failed == 0)),
        ("failing a lifted case", count(&|t| t.failed > 0)),
        (
            "the form inline in every case",
            count(&|t| t.inline == t.passed + t.failed),
        ),
        (
            "the form inline in some cases",
            count(&|t| t.inline > 0 && t.inline < t.passed + t.failed),
        ),
        (
            "the form never inline (interpreter)",
            count(&|t| t.inline == 0),
        ),
    ] {
        s += &format!("| {name} | {n} |\n");
    }
    s += &format!(
        "\nLifted cases: {}, passed: {}, failed: {}, the form inline: {}.\n\n",
        sum(&|t| t.passed + t.failed),
        sum(&|t| t.passed),
        sum(&|t| t.failed),
        sum(&|t| t.inline)
    );
    s
}

/// Full run: regenerates (`BLESS=1`) or checks `docs/coverage.md`.
#[test]
#[ignore = "runs every form; use --release"]
fn generator_full() {
    let (mut rows, ex) = run_all(None, None);
    let old = std::fs::read_to_string(TABLE).unwrap_or_default();
    carry_lifted(&mut rows, &old);
    let table = render(&rows, &ex);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(TABLE, &table).unwrap();
    } else {
        assert!(old == table, "docs/coverage.md is stale; run `{COMMAND}`");
    }
    let failing: Vec<String> = rows.iter().filter(|r| r.failed > 0).map(line).collect();
    assert!(failing.is_empty(), "failing forms:\n{}", failing.join("\n"));
}

/// Every 40th form, checked against its row in the committed table.
#[test]
fn generator_sample() {
    let (rows, _) = run_all(Some(40), None);
    let table = std::fs::read_to_string(TABLE).unwrap_or_default();
    let mut ran = 0;
    for r in &rows {
        let l = line(r);
        assert!(table.contains(&l), "row differs from docs/coverage.md: {l}");
        if !r.skipped {
            ran += 1;
            assert!(
                r.cases >= 20 || status(r).contains("not implemented"),
                "{l}"
            );
        }
    }
    assert!(ran > 10, "only {ran} sampled forms ran");
}

/// Runs only the forms whose `Code` name contains one of the comma-separated `GEN_ONLY`
/// substrings and prints their rows (a debugging aid; the table is not touched).
#[test]
#[ignore = "debugging aid; set GEN_ONLY"]
fn generator_only() {
    let only = std::env::var("GEN_ONLY").unwrap_or_default();
    let (forms, _) = super::forms::forms();
    for f in forms {
        let name = format!("{:?}", f.code);
        if f.run.is_ok() && only.split(',').any(|s| !s.is_empty() && name.contains(s)) {
            std::println!("{}", line(&run_form(f.code, f.variant, CASES, None)));
        }
    }
}

/// Lifted results survive a render and [`carry_lifted`]: failing, passing and absent ones.
#[test]
fn lifted_cells_carry_over() {
    use super::forms::Variant;
    use iced_x86::Code;
    let row = |code, variant, third| Row {
        code,
        variant,
        cases: 24,
        passed: 24,
        failed: 0,
        not_impl: 0,
        note: String::new(),
        skipped: false,
        third,
    };
    let fail = Tally {
        passed: 20,
        failed: 4,
        inline: 17,
        note: "case 3: gpr0 0x1 vs 0x2 | x".into(),
    };
    let pass = Tally {
        passed: 24,
        failed: 0,
        inline: 0,
        note: String::new(),
    };
    let mut rows = std::vec![
        row(Code::Add_rm8_r8, Variant::Reg, Some(fail)),
        row(Code::Add_rm8_r8, Variant::Mem, Some(pass.clone())),
        row(Code::Nopd, Variant::Only, None),
    ];
    let table = render(&rows, &super::forms::Excluded::default());
    assert!(table.contains("| Add_rm8_r8 | reg | Add | 24 | 24 | 0 | ok | 20 | 4 | 17 | FAIL (case 3: gpr0 0x1 vs 0x2 / x) |\n"));
    assert!(table.contains("| Nopd | - | Nop | 24 | 24 | 0 | ok | - | - | - | - |\n"));
    for r in &mut rows {
        r.third = Some(Tally::default());
    }
    carry_lifted(&mut rows, &table);
    assert_eq!(rows[1].third, Some(pass));
    assert_eq!(rows[2].third, None);
    assert_eq!(render(&rows, &super::forms::Excluded::default()), table);
}
