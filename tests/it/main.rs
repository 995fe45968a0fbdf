//! credpush integration tests.

mod inventory;
