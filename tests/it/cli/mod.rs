//! Bad command lines: one error line and a documented exit code.

mod docs;
mod input;
mod inputs;
