//! Unit tests across the inventory modules.
