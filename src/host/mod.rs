//! What runs on a host, or writes for one: the credential document ([`document`]) and its secret type
//! ([`secret`]), the atomic writer ([`fsutil`]) and the remote writer as one program ([`helper`]), the AWS profile block ([`profile`]) and credentials-file section ([`credentials`]), and the on-host commands
//! `read`, `doctor` and `serve` (the container credentials endpoint). The Ansible module links this layer without the `cli` feature, so the first four stay
//! free of the AWS SDK, tokio and the ssh stack.

pub mod atomic;
pub mod credentials;
pub mod dirs;
pub mod document;
pub mod fsutil;
pub mod helper;
pub mod ids;
pub mod input;
pub mod path;
pub mod profile;
pub mod secret;

// `read` and `doctor` are the CLI's own reports (the module never runs them), so they stay out of its build.
#[cfg(feature = "cli")]
pub mod doctor;
// `fetch` (on an SSM managed instance) is called by the CLI with what the SSM transport read.
#[cfg(feature = "cli")]
pub mod fetch;
#[cfg(feature = "cli")]
pub mod read;
// A loopback HTTP server on tokio: CLI only.
#[cfg(feature = "cli")]
pub mod serve;
