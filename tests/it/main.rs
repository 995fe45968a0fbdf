//! credpush integration tests: one binary, real parts (moto's STS, the AWS CLI), see `harness`.

mod assume;
mod harness;
mod profile;
mod rotate;
mod sshd;
