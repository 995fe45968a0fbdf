//! Bad command lines: one error line and a documented exit code.

mod input;
mod inputs;
