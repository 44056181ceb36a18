//! osrepo: declarative offline OS package repositories.
//!
//! The pipeline, one module per stage:
//! config → plan → resolve (in containers, via `engine`) → fetch (verify) → index → sign → emit → publish.

pub mod build;
pub mod config;
pub mod emit;
pub mod engine;
pub mod fetch;
pub mod fsutil;
pub mod image;
pub mod index;
pub mod lock;
pub mod plan;
pub mod publish;
pub mod resolve;
pub mod sign;
