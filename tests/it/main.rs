//! credpush integration tests.
