//! ELF discovery.
