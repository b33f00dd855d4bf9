//! Functions nothing points at: the first instruction after the padding that opens a run of
//! code bytes descent never reached.
//!
//! Stripped static programs keep functions that are only called through symbols the linker
//! resolved away (weak aliases) or not at all (the rest of a library object), and libraries built
//! without unwind tables give them no `.eh_frame` entry either. Compilers align function starts
//! to 16 bytes and fill the space before with `nop`s, `int3` or zeros, so a 16-byte-aligned
//! address after such padding at the start of an undecoded gap, which decodes plausibly, is taken
//! for a function ([`Confidence::Guess`](super::Confidence::Guess)).

use iced_x86::{Decoder, DecoderOptions, Mnemonic};

use super::descent::Walker;
use super::seeds;
use crate::code::Code;

/// Function alignment a gap start must have.
const ALIGN: u64 = 16;
/// Padding skipped before giving up on a gap.
const MAX_PADDING: u64 = 64;

/// Candidate function starts at the beginning of each undecoded gap, sorted.
pub(super) fn gap_starts(code: &Code<'_>, walker: &Walker<'_>) -> Vec<u64> {
    let mut candidates = Vec::new();
    for (start, end) in walker.unknown_runs() {
        if let Some(addr) = after_padding(code, start, end)
            && addr % ALIGN == 0
        {
            candidates.push((addr, ()));
        }
    }
    seeds::plausible_starts(code, walker, candidates)
        .into_iter()
        .map(|(addr, ())| addr)
        .collect()
}

/// The first address in `[start, end)` past zero bytes, `int3`s and `nop`s, if within
/// [`MAX_PADDING`] bytes.
fn after_padding(code: &Code<'_>, start: u64, end: u64) -> Option<u64> {
    let bytes = code.bytes_at(start)?;
    let limit = (end - start).min(bytes.len() as u64).min(MAX_PADDING) as usize;
    let bytes = &bytes[..limit];
    let mut offset = bytes.iter().position(|&b| b != 0 && b != 0xcc)?;
    let mut decoder = Decoder::with_ip(
        64,
        &bytes[offset..],
        start + offset as u64,
        DecoderOptions::NONE,
    );
    while decoder.can_decode() {
        let instr = decoder.decode();
        if instr.is_invalid() || instr.mnemonic() != Mnemonic::Nop {
            return Some(start + offset as u64);
        }
        offset += instr.len();
        // Zeros or int3 after nops.
        offset += bytes[offset..]
            .iter()
            .take_while(|&&b| b == 0 || b == 0xcc)
            .count();
        decoder = Decoder::with_ip(
            64,
            &bytes[offset..],
            start + offset as u64,
            DecoderOptions::NONE,
        );
    }
    None
}
