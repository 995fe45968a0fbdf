//! The SSH transport: the ssh command line and its trust rules ([`args`]), the inventory commands
//! `--no-inventory-commands` refuses ([`commands`]), the master's lifecycle ([`master`]),
//! and one host's connection, push and probe ([`push`]). The fleet hands it deliveries and gets one
//! [`crate::delivery::HostOutcome`] per host back; nothing here imports the fleet layer.

pub mod args;
pub mod commands;
pub mod connect;
pub mod deliver;
pub mod error;
pub mod host;
pub mod master;
pub mod push;
pub mod settings;
