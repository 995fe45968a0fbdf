//! The module with `format: credentials`, through real Ansible and the shipped playbook (`credpush_format`): the
//! action assumes the role, the module merges a managed `[onprem]` section into the host's `~/.aws/credentials`
//! (the playbook's default path for that format), and the real AWS CLI on the host reads it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{Ansible, play, recap, repo};
use crate::harness::{Env, Moto};
use crate::sshd::Fleet;

#[test]
fn the_module_writes_a_credentials_section_the_aws_cli_reads() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let inv = ansible.inventory("", "");
    let home = fleet.host("host1").home.clone();
    let aws = home.join(".aws");
    std::fs::create_dir_all(&aws).expect("dir");
    std::fs::set_permissions(&aws, PermissionsExt::from_mode(0o700)).expect("chmod");
    crate::sshd::give_to_test_user(&aws);
    let file = aws.join("credentials");
    let theirs = "[default]\naws_access_key_id = AKIAEXAMPLEOTHER\naws_secret_access_key = theirs\n";
    std::fs::write(&file, theirs).expect("credentials");
    crate::sshd::give_to_test_user(&file);
    // --diff and -vvv: whatever Ansible prints, no secret of the section is in it.
    // The shipped playbook, with the format and the section's name as the inventory or -e would give them.
    let vars = ["-e", "credpush_format=credentials credpush_profile=onprem", "--diff", "-vvv"];
    let r = play(&mut ansible.playbook(&repo().join("ansible/rotate.yml"), &inv, &vars), 0);
    assert_eq!(recap(&r, "host1"), (1, 0, 0), "{}", r.stdout);

    let text = std::fs::read_to_string(&file).expect("credentials");
    assert!(text.starts_with(&format!("{theirs}\n# >>> credpush managed credentials \"onprem\" >>>\n")), "{text}");
    let secret = text.lines().filter_map(|l| l.strip_prefix("aws_secret_access_key = ")).find(|s| *s != "theirs");
    let secret = secret.expect("the section's secret");
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "a secret reached Ansible's output");
    assert_eq!(std::fs::metadata(&file).expect("credentials").mode() & 0o777, 0o600);
    assert!(!aws.join("temp.json").exists());

    let cli = format!(
        "env AWS_ENDPOINT_URL_STS={} AWS_DEFAULT_REGION=us-east-1 /opt/credpush/venv/bin/aws sts get-caller-identity --profile onprem --output text --query Arn",
        moto.endpoint
    );
    let who = fleet.ssh("host1", &cli, b"");
    assert!(who.status.success(), "{}", String::from_utf8_lossy(&who.stderr));
    let arn = String::from_utf8_lossy(&who.stdout).into_owned();
    assert!(arn.starts_with("arn:aws:sts::123456789012:assumed-role/deploy/"), "{arn}");
}
