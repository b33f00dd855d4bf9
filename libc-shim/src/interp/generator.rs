//! Instruction-test generator: enumerates every legacy-encoded iced-x86 [`Code`]
//! valid in 64-bit mode (`forms`), builds [`CASES`] cases per runnable form (`cases`), runs each
//! natively and in the interpreter through the differential harness (`testing`) and writes the
//! per-form results to `docs/coverage.md`.
//!
//! Compiled for the crate's tests and, with the `generator` feature (host only), as a library:
//! the lifter runs every case a third way ([`ThirdWay`], `lift/tests/generator.rs`) and fills
//! the table's lifted columns.
//!
//! Regenerate the whole table, lifted columns included:
//! `BLESS=1 cargo test -p oci2wasm-lift --release --test generator -- --ignored`.
//! `BLESS=1 cargo test -p libc-shim --release generator -- --ignored` regenerates the
//! interpreter's columns only and carries the lifted ones over from the committed table.
//! Without `BLESS` the ignored test fails if the fresh table differs from the committed one or
//! if a form the interpreter implements fails a case. `generator_sample` (not ignored) runs
//! every 40th form and checks its row against the committed table. `GEN_TRACE=1` prints each
//! case before it runs (a native fault kills the test process, so this finds the culprit).
//!
//! Results are compared bit for bit except where the architecture leaves them open
//! (`tolerance`): rcp/rsqrt within 1.5·2^-12, the x87 transcendentals within one ulp.
//! MXCSR is compared in full (exception flags included); cases cycle through the four rounding
//! modes and FTZ+DAZ. Flags: compared under the harness mask minus the flags iced-x86 reports
//! as undefined for the form, minus OF for shifts/rotates whose masked count is not 1 and CF
//! for shifts whose count exceeds the width (the rules `difftest_int` uses). x87 forms run after
//! eight `fld1`, `fninit` (so empty registers hold known contents), `fldcw` (cases cycle
//! through the four rounding modes and 64/53/24-bit precision) and `fld [rsi];
//! fld [rsi+8]; fldpi` (the transcendentals and fbstp load st(0) from `[rsi+16]`, values from
//! their domain) and are observed through `fnstsw ax` (exception bits masked, as the
//! interpreter does not raise them) and `fstp tbyte` of the whole stack. MMX forms run
//! between loads of mm0-mm7 from `[rsi]` and stores to `[rdi+0x200]`. Control-flow forms run in
//! the fixed layout of `branch`.

pub mod branch;
pub mod cases;
pub mod forms;
pub mod report;
pub mod tolerance;

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use iced_x86::code_asm::*;
use iced_x86::{Code, CpuidFeature, Mnemonic as M, OpCodeOperandKind, RflagsBits};

use super::Exit;
use super::flags::{AF, CF, DF, OF, PF, SF, ZF};
use super::testing::{FLAGS, SNIPPET, State, assemble, run_interp, run_native};
use cases::{Op, Rng};
use forms::Variant;
use tolerance::Tol;

/// Cases per runnable form.
pub const CASES: usize = 24;

/// Result of one form.
#[derive(Debug)]
pub struct Row {
    pub code: Code,
    pub variant: Variant,
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_impl: usize,
    /// Skip reason, or the first difference of a failing case.
    pub note: String,
    pub skipped: bool,
    /// The third way's results (the lifter's), when it ran.
    pub third: Option<Tally>,
}

/// Results of a third way of running a form's cases: only the cases the interpreter implements
/// run, compared with the native result under the same masks and tolerances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    /// Cases in which the form's own instruction ran in the third way's code (for the lifter:
    /// lowered inline, not handed to the interpreter).
    pub inline: usize,
    /// The first difference of a failing case.
    pub note: String,
}

/// One prepared case of a form: the snippet, its input and how its result is compared.
#[derive(Debug)]
pub struct Case {
    /// The case number within the form (cases `fix_divide` rejects are left out).
    pub index: usize,
    pub ops: Vec<Op>,
    pub input: State,
    /// The snippet, to be placed at [`SNIPPET`](super::testing::SNIPPET); it ends by jumping
    /// to [`EPILOGUE`](super::testing::EPILOGUE).
    pub code: Vec<u8>,
    /// Guest address of the form's own instruction within the snippet.
    pub form_at: u64,
    /// RFLAGS bits compared.
    pub mask: u64,
    pub tol: Tol,
}

/// What a third way made of one case.
#[derive(Debug)]
pub struct ThirdRun {
    /// The final state, or why the run did not reach the epilogue.
    pub result: Result<State, String>,
    /// Whether the form's own instruction ran in the third way's code.
    pub inline: bool,
}

/// A third way to run the cases (the lifter's), besides native and interpreted.
pub trait ThirdWay {
    fn run(&mut self, code: Code, case: &Case) -> ThirdRun;
}

/// RFLAGS bits compared for `code`: [`FLAGS`] minus those iced-x86 calls undefined.
pub fn flag_mask(code: Code) -> u64 {
    let u = cases::bare(code).rflags_undefined();
    let mut m = FLAGS;
    for (bit, f) in [
        (RflagsBits::OF, OF),
        (RflagsBits::SF, SF),
        (RflagsBits::ZF, ZF),
        (RflagsBits::AF, AF),
        (RflagsBits::CF, CF),
        (RflagsBits::PF, PF),
        (RflagsBits::DF, DF),
    ] {
        if u & bit != 0 {
            m &= !f;
        }
    }
    m
}

fn is_shift(m: M) -> bool {
    matches!(
        m,
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shld | M::Shrd
    )
}

/// Operand width in bits of the first operand.
fn width(code: Code, ops: &[Op]) -> u32 {
    match ops[0] {
        Op::Reg(r) => r.size() as u32 * 8,
        _ => code.op_code().memory_size().size() as u32 * 8,
    }
}

/// Shift rules: OF is undefined unless the masked count is 1, CF for shifts past the width;
/// shld/shrd counts past the width leave the result undefined, so they are reduced.
fn shift_mask(code: Code, ops: &mut [Op], s: &mut State, mut mask: u64) -> u64 {
    let m = code.mnemonic();
    let bits = width(code, ops);
    let lim = if bits == 64 { 63 } else { 31 };
    let double = matches!(m, M::Shld | M::Shrd);
    let n = ops.len();
    let cnt = match ops.last_mut() {
        Some(Op::Imm(_, v)) if n > 1 => {
            if double && (*v & lim) > bits as u64 {
                *v &= 0xf;
            }
            *v & lim
        }
        Some(Op::Reg(r)) if *r == iced_x86::Register::CL => {
            if double && (s.gpr[1] & lim) > bits as u64 {
                s.gpr[1] &= 0xf;
            }
            s.gpr[1] & lim
        }
        _ => 1,
    };
    if cnt != 1 {
        mask &= !OF;
    }
    let rot = matches!(m, M::Rol | M::Ror | M::Rcl | M::Rcr);
    if !rot && cnt > bits as u64 {
        mask &= !CF;
    }
    mask & !AF
}

/// The first difference between native and interpreted (or lifted) results, if any, under
/// `tol`; `exit` is how the second run ended ([`Exit::Halt`] when it reached the epilogue).
pub fn compare(n: &State, i: &State, exit: Exit, mask: u64, tol: Tol) -> Option<String> {
    if exit != Exit::Halt {
        return Some(format!("interpreter stopped with {exit:?}"));
    }
    for r in 0..16 {
        if (n.gpr[r] ^ i.gpr[r]) & tol.gpr_mask(r) != 0 {
            return Some(format!("gpr{r} {:#x} vs {:#x}", n.gpr[r], i.gpr[r]));
        }
        if !tol.xmm_eq(r, n.xmm[r], i.xmm[r]) {
            return Some(format!("xmm{r} {:#x} vs {:#x}", n.xmm[r], i.xmm[r]));
        }
    }
    if (n.rflags ^ i.rflags) & mask != 0 {
        return Some(format!(
            "rflags {:#x} vs {:#x}",
            n.rflags & mask,
            i.rflags & mask
        ));
    }
    if n.mxcsr != i.mxcsr {
        return Some(format!("mxcsr {:#x} vs {:#x}", n.mxcsr, i.mxcsr));
    }
    if let Some(p) = tol.mem_diff(&n.mem, &i.mem) {
        return Some(format!("data+{p:#x} {:#x} vs {:#x}", n.mem[p], i.mem[p]));
    }
    None
}

/// x87 forms, and fxsave/fxrstor (which store and load the x87 state).
fn is_x87(code: Code) -> bool {
    matches!(
        code.mnemonic(),
        M::Fxsave | M::Fxsave64 | M::Fxrstor | M::Fxrstor64
    ) || code.cpuid_features().iter().any(|f| {
        matches!(
            f,
            CpuidFeature::FPU | CpuidFeature::FPU287 | CpuidFeature::FPU387
        )
    })
}

fn is_mmx(code: Code) -> bool {
    code.op_code().op_kinds().iter().any(|k| {
        matches!(
            k,
            OpCodeOperandKind::mm_reg | OpCodeOperandKind::mm_rm | OpCodeOperandKind::mm_or_mem
        )
    })
}

const MMS: [AsmRegisterMm; 8] = [mm0, mm1, mm2, mm3, mm4, mm5, mm6, mm7];

/// What runs before the form: the MMX loads, or the x87 setup; `top` loads st(0) from
/// `[rsi+16]` instead of `fldpi`.
fn prologue(a: &mut CodeAssembler, x87: bool, mmx: bool, top: bool) -> Result<(), IcedError> {
    if mmx {
        for (i, m) in MMS.into_iter().enumerate() {
            a.movq(m, qword_ptr(rsi + 8 * i as i32))?;
        }
    } else if x87 {
        // Known contents in all eight physical registers, then empty tags: fnsave/fxsave
        // store empty registers' stale contents.
        for _ in 0..8 {
            a.fld1()?;
        }
        a.fninit()?;
        a.fldcw(word_ptr(rsi + 24))?;
        a.fld(qword_ptr(rsi))?;
        a.fld(qword_ptr(rsi + 8))?;
        if top {
            a.fld(qword_ptr(rsi + 16))?;
        } else {
            a.fldpi()?;
        }
    }
    Ok(())
}

/// What runs after the form: the MMX stores, or the x87 status word and stack to memory.
fn epilogue(a: &mut CodeAssembler, x87: bool, mmx: bool) -> Result<(), IcedError> {
    if mmx {
        for (i, m) in MMS.into_iter().enumerate() {
            a.movq(qword_ptr(rdi + 0x200 + 8 * i as i32), m)?;
        }
        a.emms()?;
    } else if x87 {
        a.fnstsw(ax)?;
        a.and(eax, 0x7f00)?;
        for i in 0..4 {
            a.fstp(tword_ptr(rdi + 0x100 + 16 * i))?;
        }
    }
    Ok(())
}

/// Assembles the form's bytes between the x87 or MMX prologue/epilogue when needed; the
/// snippet and the address of the form's bytes in it.
fn snippet(bytes: &[u8], x87: bool, mmx: bool, top: bool) -> (Vec<u8>, u64) {
    let code = assemble(&|a: &mut CodeAssembler| {
        prologue(a, x87, mmx, top)?;
        a.db(bytes)?;
        epilogue(a, x87, mmx)
    });
    let before = if x87 || mmx {
        let mut a = CodeAssembler::new(64).unwrap();
        prologue(&mut a, x87, mmx, top).unwrap();
        a.assemble(SNIPPET).unwrap().len() as u64
    } else {
        0
    };
    (code, SNIPPET + before)
}

/// The first `n` cases of one form (fewer where `fix_divide` rejects one), and the skip
/// reason if the form stopped being encodable (the cases before it still run).
pub fn cases(code: Code, variant: Variant, n: usize) -> (Vec<Case>, Option<String>) {
    let mut out = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (code as u64).wrapping_mul(0x1000_0000_01b3));
    let base_mask = flag_mask(code);
    let x87 = is_x87(code);
    let mmx = is_mmx(code);
    for k in 0..n {
        let mut ops = cases::operands(code, k, variant == Variant::Mem, &mut rng);
        let mut s = cases::state(k, &mut rng);
        let mask = if is_shift(code.mnemonic()) {
            shift_mask(code, &mut ops, &mut s, base_mask)
        } else {
            base_mask
        };
        cases::fix_bit_offset(code, &ops, &mut s);
        cases::fix_enter(code, &mut ops);
        cases::fix_xlat(code, &mut s);
        cases::fix_bcd(code, &mut s);
        cases::fix_control_state(code, &mut s);
        cases::fix_popf(code, &mut s);
        let top = cases::x87_top(code, k, &mut s);
        if !cases::fix_divide(code, &ops, &mut s) {
            continue;
        }
        let branch = branch::is_branch(code);
        if branch {
            branch::fix_state(code, &ops, k, &mut s);
        }
        let bytes = if branch {
            branch::snippet(code, &ops)
        } else {
            cases::encode(code, &ops, 0x1000).map(|b| snippet(&b, x87 && !mmx, mmx, top))
        };
        let Some((code_bytes, form_at)) = bytes else {
            let note = "skipped: encoding decodes as another form (aliases)".to_string();
            return (out, Some(note));
        };
        let tol = Tol::of(code, &ops);
        out.push(Case {
            index: k,
            ops,
            input: s,
            code: code_bytes,
            form_at,
            mask,
            tol,
        });
    }
    (out, None)
}

/// Runs `n` cases of one form natively and interpreted, and a third way if given.
pub fn run_form<'t>(
    code: Code,
    variant: Variant,
    n: usize,
    mut third: Option<&mut (dyn ThirdWay + 't)>,
) -> Row {
    let mut row = Row {
        code,
        variant,
        cases: 0,
        passed: 0,
        failed: 0,
        not_impl: 0,
        note: String::new(),
        skipped: false,
        third: third.as_ref().map(|_| Tally::default()),
    };
    let (cases, skip) = cases(code, variant, n);
    for case in &cases {
        let k = case.index;
        if std::env::var_os("GEN_TRACE").is_some() {
            std::eprintln!("{code:?} case {k} {:?}", case.ops);
        }
        let native = run_native(&case.code, &case.input);
        let (interp, exit) = run_interp(&case.code, &case.input);
        row.cases += 1;
        if exit == Exit::InvalidOpcode {
            row.not_impl += 1;
            continue;
        }
        match compare(&native, &interp, exit, case.mask, case.tol) {
            None => row.passed += 1,
            Some(d) => {
                if row.failed == 0 {
                    row.note = format!("case {k}: {d}");
                }
                row.failed += 1;
            }
        }
        if let (Some(t), Some(tally)) = (third.as_deref_mut(), row.third.as_mut()) {
            let run = t.run(code, case);
            let diff = match &run.result {
                Ok(state) => compare(&native, state, Exit::Halt, case.mask, case.tol),
                Err(e) => Some(e.clone()),
            };
            tally.inline += run.inline as usize;
            match diff {
                None => tally.passed += 1,
                Some(d) => {
                    if tally.failed == 0 {
                        tally.note = format!("case {k}: {d}");
                    }
                    tally.failed += 1;
                }
            }
        }
    }
    if let Some(note) = skip {
        row.skipped = true;
        row.note = note;
        row.third = None;
    }
    row
}

/// Runs every form (every `sample`-th when given), a third way too if given; the rows in table
/// order and the counts of codes left out of the table.
pub fn run_all<'t>(
    sample: Option<usize>,
    mut third: Option<&mut (dyn ThirdWay + 't)>,
) -> (Vec<Row>, forms::Excluded) {
    let (forms, ex) = forms::forms();
    let mut rows = Vec::new();
    for (i, f) in forms.iter().enumerate() {
        if sample.is_some_and(|s| i % s != 0) {
            continue;
        }
        rows.push(match &f.run {
            Ok(()) => run_form(f.code, f.variant, CASES, third.as_deref_mut()),
            Err(r) => Row {
                code: f.code,
                variant: f.variant,
                cases: 0,
                passed: 0,
                failed: 0,
                not_impl: 0,
                note: format!("skipped: {r}"),
                skipped: true,
                third: None,
            },
        });
    }
    (rows, ex)
}

/// The interpreter's status of a form in the table.
pub fn status(r: &Row) -> String {
    if r.skipped {
        r.note.clone()
    } else if r.not_impl == r.cases && r.cases > 0 {
        "not implemented".to_string()
    } else if r.failed > 0 {
        format!("FAIL ({})", r.note.replace('|', "/"))
    } else if r.not_impl > 0 {
        format!("partly not implemented ({} cases)", r.not_impl)
    } else {
        "ok".to_string()
    }
}

/// The interpreter's columns of a form's table line (a `Code` with an r/m operand has a `reg`
/// and a `mem` line); the lifted columns follow ([`report::lifted_cells`]).
pub fn line(r: &Row) -> String {
    format!(
        "| {:?} | {} | {:?} | {} | {} | {} | {} |",
        r.code,
        r.variant.name(),
        r.code.mnemonic(),
        r.cases,
        r.passed,
        r.failed,
        status(r)
    )
}
