//! Feeds arbitrary bytes to the no_std reader: parse, walk every inode and entry, resolve paths.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| vfs_pack::fuzzing::exercise(bytes));
