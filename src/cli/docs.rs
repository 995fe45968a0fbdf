//! `credpush completions SHELL` and the hidden `credpush man --out DIR`: shell completions and man pages,
//! generated from the clap types in this module's parent, so they always match the binary that prints them.
//! scripts/release ships both (tarball and .deb) from the release binary itself, with no build step of its own.

use std::path::PathBuf;

use clap::{Args, CommandFactory, ValueEnum};

use crate::cli::Cli;
use crate::error::{EXIT_OK, Error, Result};
use crate::term;

/// `credpush completions`.
#[derive(Debug, Args)]
pub struct CompletionsCmd {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells whose completions are tested and shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash (bash-completion: /usr/share/bash-completion/completions/credpush).
    Bash,
    /// zsh (a directory on $fpath, as _credpush).
    Zsh,
    /// fish (~/.config/fish/completions/credpush.fish).
    Fish,
}

/// `credpush man` (hidden: a packaging step, whose result users read with man).
#[derive(Debug, Args)]
pub struct ManCmd {
    /// Existing directory to write credpush.1 and one credpush-COMMAND.1 per subcommand into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `credpush completions`.
pub fn completions(cmd: &CompletionsCmd) -> Result<i32> {
    let shell = match cmd.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "credpush", &mut script);
    term::write(&script).map_err(|e| Error::io("write", "stdout", e))?;
    Ok(EXIT_OK)
}

/// Runs `credpush man`: the pages of every visible command, written in place (a packaging directory).
pub fn man(cmd: &ManCmd) -> Result<i32> {
    if !cmd.out.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory (create it first)");
        return Err(Error::io("write man pages into", &cmd.out, e));
    }
    clap_mangen::generate_to(Cli::command(), &cmd.out).map_err(|e| Error::io("write man pages into", &cmd.out, e))?;
    Ok(EXIT_OK)
}
