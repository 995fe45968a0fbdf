//! `credpush inventory --list`: the inventory as `ansible-inventory --list` prints it, streamed; `--hosts
//! [--shard I/N]`: the selected hosts as an `ansible-playbook --limit @FILE` file.

use crate::cli::InventoryCmd;
use crate::error::{EXIT_OK, Error, Result};
use crate::inventory;

/// Runs `credpush inventory`.
pub fn run(cmd: InventoryCmd) -> Result<i32> {
    let inv = inventory::Inventory::load(&cmd.inv.inventory)?;
    if cmd.hosts {
        let names = crate::fleet::shard::limit_file(&inv, cmd.inv.limit.as_deref(), cmd.shard)?;
        crate::term::print(&names)?;
        return Ok(EXIT_OK);
    }
    let list = inv.list(cmd.inv.limit.as_deref())?;
    // Streamed one host at a time; a reader that stops early ends it quietly, as with `term::print`.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match list.write_json(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.map_err(|e| Error::io("write", "stdout", e))?,
    }
    Ok(EXIT_OK)
}
