//! On a host: `doctor` and the profile.

mod doctor;
mod profile;
