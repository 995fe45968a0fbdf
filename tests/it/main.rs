//! credpush integration tests: one binary, real parts (moto's STS, loopback sshd, ansible-core, the AWS CLI,
//! boto3 and the JavaScript v3 SDK), see `harness` and `sshd`.

//!
//! The folders follow `src/`'s layers: `cli` (bad command lines), `fleet` (rotate, status, faults), `aws`
//! (assume), `host` (doctor, profile, serve), `inventory`, `ansible` (module and playbook), `codebuild`, `ssm` (the
//! SSM transport against moto and the agent emulator), `lambda` (the binary as a Lambda function).

mod ansible;
mod aws;
mod cli;
mod codebuild;
mod fleet;
mod harness;
mod host;
mod inventory;
mod lambda;
mod procs;
mod release;
mod sshd;
mod ssm;
mod trust;
