//! index: pure functions from package records to repository metadata.

pub mod deb;
