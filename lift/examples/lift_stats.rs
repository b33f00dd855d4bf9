//! Lifts one ELF file and prints its lift report: `cargo run -p oci2wasm-lift --release
//! --example lift_stats -- /bin/busybox [BIAS]`. The report is what `convert` prints per ELF.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: lift_stats ELF [BIAS]");
    let bias = args
        .next()
        .map(|b| u64::from_str_radix(b.trim_start_matches("0x"), 16).expect("hex bias"))
        .unwrap_or(0);
    let bytes = std::fs::read(&path).expect("readable ELF");
    let link = oci2wasm_lift::link::Link {
        first_func: 100,
        sig_type: 10,
        step_func: 1,
        rflags_func: 2,
        table_base: 1,
        guest_base: 0x100_0000,
    };
    let t = Instant::now();
    let lifted = oci2wasm_lift::translate::lift_elf(&path, &bytes, bias, &link, 0).expect("lifts");
    let r = &lifted.report;
    println!(
        "{path}: {} functions found, {} lifted, {} code bytes covered, {} wasm bytes ({:.2}x), {} inline / {} helper instructions, {} entries, {:.2} s",
        r.functions_found,
        r.functions_lifted,
        r.code_bytes_covered,
        r.wasm_bytes,
        r.wasm_bytes as f64 / r.code_bytes_covered.max(1) as f64,
        r.insns_inline,
        r.insns_helper,
        lifted.entries.len(),
        t.elapsed().as_secs_f64()
    );
    println!("helper mnemonics: {:?}", r.helper_mnemonics);
}
