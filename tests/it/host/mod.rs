//! On a host: `doctor`, the profile, and `serve`.

mod doctor;
mod profile;
mod serve;
