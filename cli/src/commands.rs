//! The subcommands, one file each.

pub mod convert;
pub mod inspect;
pub mod pack;
pub mod run;
pub mod verify;
