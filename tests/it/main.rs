//! credpush integration tests: one binary, real parts (moto's STS, loopback sshd, ansible-core, the AWS CLI and
//! boto3), see `harness` and `sshd`.

mod ansible;
mod assume;
mod codebuild;
mod doctor;
mod faults;
mod harness;
mod input;
mod inventory;
mod procs;
mod profile;
mod rotate;
mod sshd;
mod status;
