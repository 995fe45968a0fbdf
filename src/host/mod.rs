//! What runs on a host, or writes for one: the credential document ([`document`]) and its secret type
//! ([`secret`]), the atomic writer ([`fsutil`]), the AWS profile block ([`profile`]), and the on-host commands
//! `read` and `doctor`. The Ansible module links this layer without the `cli` feature, so the first four stay
//! free of the AWS SDK, tokio and the ssh stack.

pub mod document;
pub mod fsutil;
pub mod input;
pub mod profile;
pub mod secret;

// `read` and `doctor` print through `crate::term`, which is part of the CLI build.
#[cfg(feature = "cli")]
pub mod doctor;
#[cfg(feature = "cli")]
pub mod read;
