//! The per-ELF dispatch function: indirect calls and jumps of lifted code find their target here
//! without leaving Wasm.
//!
//! It has the lifted-function signature (see [`crate::link`]) and reads the target from
//! `cpu.rip`, which the caller stored. The low 32 bits of the address are hashed (multiplicative
//! hashing) into a power-of-two number of buckets and a `br_table` jumps to the bucket, which
//! compares the full 64-bit address with each function entry that hashed there and calls the
//! match directly (`call`, not `call_indirect`: every target is a function of this module),
//! returning its exit code. A miss returns [`EXIT_CONTINUE`] with `cpu.rip` still the target, so
//! the runtime continues there (its map also knows every block, or it interprets).
//!
//! ```text
//! block $miss
//!   block $bucket(k-1) ... block $bucket0
//!     br_table (hash(rip) -> bucket label, or $miss for empty buckets)
//!   end  <compare-and-call chain of bucket 0>  br $miss
//!   ...
//! end
//! i32.const EXIT_CONTINUE
//! ```
//!
//! Only function entries are in the table: an indirect transfer into the middle of a function
//! is rare (an unresolved switch) and goes through the runtime.

use libc_shim::cpu::offset;
use wasm_encoder::{BlockType, Function, Instruction as I, MemArg, ValType};

use crate::link::{EXIT_CONTINUE, Link};

/// The multiplier of the hash (Knuth's golden-ratio constant).
const MULTIPLIER: u32 = 0x9e37_79b1;

/// One target: guest entry address, lifted function (relative to `link.first_func`), block.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub addr: u64,
    pub func: u32,
    pub block: u32,
}

/// log2 of the bucket count for `n` targets: about two buckets per target, at least two.
fn bucket_bits(n: usize) -> u32 {
    (n.max(1) * 2).next_power_of_two().trailing_zeros()
}

fn bucket(addr: u64, bits: u32) -> usize {
    ((addr as u32).wrapping_mul(MULTIPLIER) >> (32 - bits)) as usize
}

/// The dispatch function's body (locals and code, as in the code section).
pub fn body(link: &Link, targets: &[Target]) -> Vec<u8> {
    const CPU: u32 = 0;
    const DEPTH: u32 = 2;
    const RIP: u32 = 3;
    let bits = bucket_bits(targets.len());
    let mut buckets: Vec<Vec<Target>> = vec![Vec::new(); 1 << bits];
    for t in targets {
        buckets[bucket(t.addr, bits)].push(*t);
    }
    // Non-empty buckets get a label each, in bucket order; empty ones branch to $miss.
    let used: Vec<usize> = (0..buckets.len())
        .filter(|&b| !buckets[b].is_empty())
        .collect();
    let mut label_of = vec![used.len() as u32; buckets.len()];
    for (l, &b) in used.iter().enumerate() {
        label_of[b] = l as u32;
    }

    let mut f = Function::new([(1, ValType::I64)]);
    let rip = MemArg {
        offset: offset::RIP as u64,
        align: 3,
        memory_index: 0,
    };
    f.instruction(&I::LocalGet(CPU))
        .instruction(&I::I64Load(rip))
        .instruction(&I::LocalSet(RIP));
    f.instruction(&I::Block(BlockType::Empty)); // $miss
    for _ in &used {
        f.instruction(&I::Block(BlockType::Empty));
    }
    f.instruction(&I::LocalGet(RIP))
        .instruction(&I::I32WrapI64)
        .instruction(&I::I32Const(MULTIPLIER as i32))
        .instruction(&I::I32Mul)
        .instruction(&I::I32Const(32 - bits as i32))
        .instruction(&I::I32ShrU);
    f.instruction(&I::BrTable(label_of.into(), used.len() as u32));
    for (l, &b) in used.iter().enumerate() {
        f.instruction(&I::End);
        for t in &buckets[b] {
            f.instruction(&I::LocalGet(RIP))
                .instruction(&I::I64Const(t.addr as i64))
                .instruction(&I::I64Eq)
                .instruction(&I::If(BlockType::Empty))
                .instruction(&I::LocalGet(CPU))
                .instruction(&I::I32Const(t.block as i32))
                .instruction(&I::LocalGet(DEPTH))
                .instruction(&I::Call(link.first_func + t.func))
                .instruction(&I::Return)
                .instruction(&I::End);
        }
        // Labels still open: the buckets after this one, then $miss.
        f.instruction(&I::Br((used.len() - 1 - l) as u32));
    }
    f.instruction(&I::End); // $miss
    f.instruction(&I::I32Const(EXIT_CONTINUE))
        .instruction(&I::End);
    f.into_raw_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_hash_range() {
        assert_eq!(bucket_bits(0), 1);
        assert_eq!(bucket_bits(1), 1);
        assert_eq!(bucket_bits(3), 3);
        assert_eq!(bucket_bits(4961), 14);
        for bits in 1..20 {
            for addr in [0u64, 0x40_1000, 0xffff_ffff, 0x1_0040_1000] {
                assert!(bucket(addr, bits) < 1 << bits);
            }
        }
    }
}
