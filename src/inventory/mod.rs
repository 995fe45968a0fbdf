//! Ansible inventories (INI and YAML), parsed as Ansible parses them. (Placeholder until the parser lands.)

use std::path::PathBuf;

use serde_json::{Map, Value};

/// Why an inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}

/// A loaded inventory.
#[derive(Debug, Default)]
pub struct Inventory {
    hosts: Vec<(String, Map<String, Value>)>,
}

impl Inventory {
    /// Loads inventories.
    pub fn load(sources: &[PathBuf]) -> Result<Self, InventoryError> {
        let mut inv = Inventory::default();
        for s in sources {
            let text = std::fs::read_to_string(s).map_err(|e| InventoryError::Other(e.to_string()))?;
            for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('[') && !l.starts_with('#')) {
                let mut parts = line.split_whitespace();
                let name = parts.next().unwrap_or_default().to_owned();
                let mut vars = Map::new();
                for kv in parts {
                    if let Some((k, v)) = kv.split_once('=') {
                        let v = v.trim_matches('\'').trim_matches('"');
                        let val = v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(v.to_owned()));
                        vars.insert(k.to_owned(), val);
                    }
                }
                inv.hosts.push((name, vars));
            }
        }
        Ok(inv)
    }

    /// Hosts matching a limit pattern.
    pub fn select(&self, _limit: Option<&str>) -> Result<Vec<String>, InventoryError> {
        Ok(self.hosts.iter().map(|(h, _)| h.clone()).collect())
    }

    /// Merged variables of a host.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        self.hosts.iter().find(|(h, _)| h == host).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// `ansible-inventory --list` output.
    pub fn to_list_json(&self, _limit: Option<&str>) -> Value {
        Value::Null
    }
}
