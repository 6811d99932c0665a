//! Profiles and values: everything between what the user typed and a validated configuration.
//!
//! Start with [`builtin`] (the embedded profiles) and [`catalog`] (what each kata-deploy shim
//! is and where it builds). Everything here is pure: no network, no clock, and no files
//! beyond the values files the caller names.

pub mod builtin;
pub mod catalog;
