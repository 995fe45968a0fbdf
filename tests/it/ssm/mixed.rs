//! One inventory, two transports: loopback sshd hosts and SSM managed instances in one `credpush rotate` run get
//! the same role's document (one AssumeRole), and the run prints one report with every host.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::{Spec, SsmWorld, recorded_ssm, status_of, uid_of};
use crate::harness::{Env, run};
use crate::sshd::Fleet;

fn key_of(path: &std::path::Path) -> String {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("json");
    doc["AccessKeyId"].as_str().expect("key").to_owned()
}

#[test]
fn ssh_and_ssm_hosts_of_one_inventory_get_one_rotation_and_one_report() {
    let (env, w, fleet) = (Env::new(), SsmWorld::start(Spec { online: 2, offline: 0 }), Fleet::start(2));
    w.make_dirs();
    let mut ssm_hosts = String::new();
    for (n, i) in w.instances.iter().enumerate() {
        ssm_hosts.push_str(&format!(
            "box{n} ansible_connection=community.aws.aws_ssm ansible_aws_ssm_instance_id={} ansible_become_user={} credpush_path={}\n",
            i.id,
            i.user,
            i.document().display()
        ));
    }
    // The fleet's hosts are in [onprem]; the SSM ones join the same group.
    let inv = fleet.inventory(&ssm_hosts);
    let mut cmd = w.rotate(&env, &["-i", inv.to_str().expect("utf-8"), "--ssh-config"]);
    cmd.arg(fleet.ssh_config());
    let r = run(&mut cmd).expect_code(0);
    let report: Value = serde_json::from_str(&r.stdout).expect("one JSON report");
    let hosts = report["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 4, "{report}");
    let mut keys = Vec::new();
    for h in &fleet.hosts {
        assert_eq!(status_of(&report, &h.name).0, "ok", "{report}");
        let meta = std::fs::metadata(h.document()).expect("ssh host written");
        assert_eq!(meta.mode() & 0o777, 0o600);
        keys.push(key_of(&h.document()));
    }
    for (n, i) in w.instances.iter().enumerate() {
        assert_eq!(status_of(&report, &format!("box{n}")).0, "ok", "{report}");
        let meta = std::fs::metadata(i.document()).expect("ssm instance written");
        assert_eq!((meta.uid(), meta.mode() & 0o777), (uid_of(i.user), 0o600));
        keys.push(key_of(&i.document()));
    }
    // One role, one AssumeRole: every host, whatever its transport, holds the same credentials.
    // (The world's setup assumed the host role once per instance for their agent credentials: not counted.)
    let role = w.target_role();
    let assumed = w.moto.recorded_actions("AssumeRole");
    assert_eq!(assumed.iter().filter(|form| form.iter().any(|(k, v)| k == "RoleArn" && v == &role)).count(), 1);
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    // The two SSM hosts share the role's parameter (one PutParameter); their commands carry different paths and
    // owners, so each is its own group (one SendCommand each).
    assert_eq!(recorded_ssm(&w.moto, "PutParameter").len(), 1);
    assert_eq!(recorded_ssm(&w.moto, "SendCommand").len(), 2);
}
