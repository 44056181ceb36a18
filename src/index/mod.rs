//! index: pure functions from package records to repository metadata.

pub mod deb;
pub mod modules;
pub mod rpm;
