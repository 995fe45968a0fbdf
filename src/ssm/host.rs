//! An inventory host reached through SSM (`ansible_connection: community.aws.aws_ssm`, or `aws_ssm`): its
//! instance ID and the local user who owns its document, read from its variables as the aws_ssm connection
//! plugin reads them.

use serde_json::{Map, Value};

/// The `ansible_connection` values that mean SSM.
pub const CONNECTIONS: [&str; 2] = ["community.aws.aws_ssm", "aws_ssm"];

/// How the SSM transport reaches one inventory host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmHost {
    /// `ansible_aws_ssm_instance_id`, else `ansible_host`, else the inventory name.
    pub instance_id: String,
    /// `ansible_become_user`: the owner of the document on the instance (None: `--owner`, else root). fetch runs
    /// as root under the agent, so no become is needed to write for another user.
    pub owner: Option<String>,
}

impl SsmHost {
    /// Reads the host's SSM settings. Returns the variable and why, for an unusable value.
    pub fn from_vars(name: &str, vars: &Map<String, Value>) -> Result<Self, (&'static str, String, String)> {
        let get = |var: &'static str| match vars.get(var) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let (var, instance_id) = match (get("ansible_aws_ssm_instance_id"), get("ansible_host")) {
            (Some(id), _) => ("ansible_aws_ssm_instance_id", id),
            (None, Some(h)) => ("ansible_host", h),
            (None, None) => ("inventory_hostname", name.to_owned()),
        };
        super::targets::check_instance_id(&instance_id).map_err(|reason| (var, instance_id.clone(), reason))?;
        let owner = get("ansible_become_user");
        if let Some(o) = &owner
            && !valid_user(o)
        {
            return Err((
                "ansible_become_user",
                o.clone(),
                "expected a local user name (letters, digits, _ and -)".into(),
            ));
        }
        Ok(Self { instance_id, owner })
    }
}

/// `credpush status` for an SSM host. status reads a document without changing anything, over one ssh exec; an
/// SSM instance can only be read by running a command on it (SendCommand, whose output SSM keeps for 30 days),
/// which a read-only status must not do. So the host gets its own row saying so.
pub fn probe(_host: &SsmHost) -> crate::delivery::Probed {
    crate::delivery::Probed::Unsupported(
        "status probes over ssh and this host is reached through SSM (ansible_connection aws_ssm), where reading the document would mean running a command on it; see its last `credpush rotate` report, or run `credpush doctor` on the instance".into(),
    )
}

/// A user name the fetch document's allowedPattern admits.
pub fn valid_user(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_instance_id_comes_from_the_plugin_variable_then_ansible_host() {
        let h = SsmHost::from_vars(
            "web",
            &vars(json!({"ansible_aws_ssm_instance_id": "mi-0123456789abcdef0", "ansible_host": "10.0.0.1"})),
        );
        assert_eq!(h.unwrap().instance_id, "mi-0123456789abcdef0");
        let h = SsmHost::from_vars("web", &vars(json!({"ansible_host": "i-0123abcd", "ansible_become_user": "ci"})));
        assert_eq!(h.unwrap(), SsmHost { instance_id: "i-0123abcd".into(), owner: Some("ci".into()) });
        let (var, value, _) = SsmHost::from_vars("web", &Map::new()).unwrap_err();
        assert_eq!((var, value.as_str()), ("inventory_hostname", "web"));
        let (var, _, _) = SsmHost::from_vars(
            "web",
            &vars(json!({"ansible_host": "mi-0123456789abcdef0", "ansible_become_user": "a b"})),
        )
        .unwrap_err();
        assert_eq!(var, "ansible_become_user");
    }
}
