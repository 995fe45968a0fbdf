//! AWS, below the fleet: one STS session per run ([`sts::Sts`]), the validated request parameters ([`params`]),
//! one-line failure text for every STS error (`failure`), and the clock check against STS's `Date` ([`clock`]).

pub mod caller;
pub mod clock;
pub mod config;
mod failure;
pub mod inputs;
pub mod params;
pub mod sts;
