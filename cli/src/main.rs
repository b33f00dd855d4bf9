//! `oci2wasm`: turn a Linux container image into a WebAssembly component.
//!
//! One file per subcommand under `commands/`; arguments shared by every command that reads an
//! image live in `image_args.rs`. Errors are reported once, on stderr, with their causes, and the
//! exit status is 1; a broken pipe on stdout (`oci2wasm inspect ... | head`) is not an error.

mod commands;
mod image_args;
mod lifting;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turn a Linux container image (x86-64) into a WebAssembly component.
///
/// IMAGE is one of:
///   docker://HOST[:PORT]/REPO[:TAG|@DIGEST]   an image in a registry (Docker Hub if no HOST)
///   oci:DIR[:TAG]                             an OCI image layout directory
///   docker-archive:FILE[:REPO:TAG]            a `docker save` tarball
///   dir:PATH                                  a directory used as the root filesystem
/// A reference without a transport, like `busybox:latest`, is a registry reference.
#[derive(Debug, Parser)]
#[command(name = "oci2wasm", version, about, long_about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Convert(commands::convert::Args),
    Run(commands::run::Args),
    Inspect(commands::inspect::Args),
    Pack(commands::pack::Args),
    Verify(commands::verify::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut return_code = ExitCode::SUCCESS;
    // `verify` tells a failure of its own (2) from a difference it found (1).
    let mut error_code = ExitCode::FAILURE;
    let result = match cli.command {
        Command::Convert(args) => commands::convert::run(args),
        // `run` exits with the guest's status.
        Command::Run(args) => commands::run::run(args).map(|code| return_code = code),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Pack(args) => commands::pack::run(args),
        Command::Verify(args) => {
            error_code = ExitCode::from(2);
            commands::verify::run(args).map(|code| return_code = code)
        }
    };
    match result {
        Ok(()) => return_code,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("oci2wasm: error: {err:#}");
            error_code
        }
    }
}
