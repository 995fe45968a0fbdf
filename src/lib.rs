//! credpush (skeleton)
pub mod inventory;
