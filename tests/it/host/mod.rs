//! On a host: `doctor`, the profile, `serve`, and the SSH writer's helper.

mod doctor;
mod helper;
mod profile;
mod serve;
