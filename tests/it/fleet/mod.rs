//! `rotate`, `status` and the fault tests across many hosts.

pub mod faults;
pub mod rotate;
mod status;
