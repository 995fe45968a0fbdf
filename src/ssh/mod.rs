//! The SSH transport: the ssh command line and its trust rules ([`args`]), the inventory commands
//! `--no-inventory-commands` refuses ([`commands`]), the master's lifecycle ([`master`]), one plain ssh per exec
//! for a rotation's write ([`direct`]), one host's connection and push ([`push`], [`deliver`]), the writer's
//! helper program ([`helper`]) and its status probe ([`probe`]). The fleet hands it deliveries and gets one
//! [`crate::delivery::HostOutcome`] per host back; nothing here imports the fleet layer.

pub mod answer;
pub mod args;
pub mod commands;
pub mod connect;
pub mod deliver;
pub mod direct;
pub mod error;
pub mod exec;
pub mod helper;
pub mod host;
pub mod master;
pub mod probe;
pub mod push;
pub mod settings;
