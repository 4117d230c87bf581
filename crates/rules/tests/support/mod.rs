//! Helpers the rules crate's tests and benchmark share.

pub mod decoded;
pub mod versus;
