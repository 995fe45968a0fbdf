//! Ansible inventories (INI and YAML), parsed as Ansible parses them.
