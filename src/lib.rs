//! osrepo: declarative offline OS package repositories.
//!
//! The pipeline (`pipeline`), one module per stage: config → plan → resolve (in build
//! containers via `engine`) → fetch (verified into the `cache`) → index → sign → emit →
//! publish. Everything that differs between package families lives behind one trait in
//! `family`. See ARCHITECTURE.md.

pub mod arch;
pub mod cache;
pub mod config;
pub mod download;
pub mod emit;
pub mod engine;
pub mod family;
pub(crate) mod fsutil;
pub(crate) mod hashing;
pub mod image;
pub mod index;
pub mod lock;
pub mod names;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod publish;
pub(crate) mod resolve;
pub mod sbom;
pub mod serve;
pub mod sign;
pub mod verify;
