//! End-to-end tests of the `oci2wasm` binary: one test binary, a module per area.
//!
//! Fixture images are built by `fixtures/build.sh` on first use (cached across runs); registry
//! tests start Debian's `docker-registry` on 127.0.0.1 themselves. Nothing here needs the internet.

mod auth;
mod bad_input;
mod convert;
mod differential;
mod inspect;
mod layers;
mod pack;
mod support;
