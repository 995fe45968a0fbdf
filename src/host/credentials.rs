//! `--format credentials`: the credentials as a managed `[NAME]` section of an AWS shared credentials file
//! (`~/.aws/credentials`), for tools that read static keys and cannot run `credential_process`. The section sits
//! between markers, like the managed profile block ([`crate::host::profile`]); everything else in the file stays
//! byte for byte. The file holds secrets, its own and other people's, so every text of it here is a [`Secret`] and
//! no message quotes a line of it.

use std::path::Path;

use crate::error::{Error, Result};
use crate::host::document::{CredentialDocument, format_expiration};
use crate::host::profile::merge_block;
use crate::host::secret::Secret;

/// Where the section goes by default, resolved on the host (the login or become user's home).
pub const CREDENTIALS_FILE: &str = "~/.aws/credentials";

/// A checked section name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsSection {
    name: String,
}

impl CredentialsSection {
    /// Checks the name with the profile rule (letters, digits and `_-.@+=,`); `flag` names the input.
    pub fn new(flag: &'static str, name: &str) -> Result<Self> {
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.@+=,".contains(c));
        if !ok {
            return Err(Error::invalid(flag, name, "a profile name is letters, digits and _-.@+=, (e.g. onprem)"));
        }
        Ok(Self { name: name.to_owned() })
    }

    /// The section's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn markers(&self) -> (String, String) {
        (
            format!("# >>> credpush managed credentials \"{}\" >>>", self.name),
            format!("# <<< credpush managed credentials \"{}\" <<<", self.name),
        )
    }

    /// The managed section for `doc`, markers included, ending in a newline. The expiration is a comment: the
    /// SDKs read only the three keys from this file and never refresh them, so the comment is for people.
    pub fn render(&self, doc: &CredentialDocument) -> Secret {
        let (begin, end) = self.markers();
        Secret::new(format!(
            "{begin}\n# Written by credpush; replaced by every rotation. Expires {}.\n[{}]\n\
             aws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n{end}\n",
            format_expiration(doc.expiration),
            self.name,
            doc.access_key_id,
            doc.secret_access_key.expose(),
            doc.session_token.expose(),
        ))
    }

    /// Merges the section for `doc` into `existing` (the file's text). A file that holds a credential document
    /// (JSON) is refused: `--path` points at a document, not at a credentials file.
    pub fn merge(&self, existing: &Secret, doc: &CredentialDocument, file: &Path) -> Result<Secret> {
        if existing.expose().trim_start().starts_with('{') {
            return Err(Error::ConfigFile {
                path: file.to_owned(),
                reason: "holds JSON, not an AWS credentials file (fix: point --path or credpush_path at \
                         ~/.aws/credentials, or rotate with --format json)"
                    .into(),
            });
        }
        let what = format!("credentials {:?}", self.name);
        let header = format!("[{}]", self.name);
        let block = self.render(doc);
        let merged =
            merge_block(existing.expose(), block.expose(), &self.markers(), &header, &what, "--install-profile", file)?;
        Ok(Secret::new(merged))
    }
}

/// Decodes a credentials file's bytes as read, without quoting them when they are not text.
pub fn decode(bytes: Vec<u8>, file: &Path) -> Result<Secret> {
    String::from_utf8(bytes).map(Secret::new).map_err(|_| Error::ConfigFile {
        path: file.to_owned(),
        reason: "is not UTF-8 text (fix: point the path at an AWS credentials file)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn doc(key: &str) -> CredentialDocument {
        CredentialDocument {
            access_key_id: key.into(),
            secret_access_key: Secret::new("SECRET"),
            session_token: Secret::new("TOKEN"),
            expiration: datetime!(2026-12-02 04:00 UTC),
        }
    }

    #[test]
    fn merge_replaces_only_the_section_and_keeps_the_rest_byte_for_byte() {
        let s = CredentialsSection::new("--install-profile", "onprem").expect("name");
        let f = Path::new("/h/.aws/credentials");
        // Someone else's static keys, CRLF, no final newline: all kept as they are.
        let before = "[default]\r\naws_access_key_id = AKIAOTHER\r\naws_secret_access_key = theirs\r\n[x]\nk = v";
        let once = s.merge(&Secret::new(before), &doc("ASIAONE"), f).expect("merge");
        assert!(once.expose().starts_with(&format!("{before}\n\n# >>> credpush managed credentials \"onprem\" >>>\n")));
        assert!(once.expose().contains("[onprem]\naws_access_key_id = ASIAONE\naws_secret_access_key = SECRET\n"));
        assert!(
            once.expose()
                .contains("# Written by credpush; replaced by every rotation. Expires 2026-12-02T04:00:00Z.\n")
        );
        let twice = s.merge(&once, &doc("ASIATWO"), f).expect("again");
        assert_eq!(twice.expose().replace("ASIATWO", "ASIAONE"), once.expose(), "only the section changes");
        let tail = format!("{}[after]\nz = 1\n", twice.expose());
        let moved = s.merge(&Secret::new(&tail), &doc("ASIAONE"), f).expect("with a tail");
        assert!(moved.expose().ends_with("credentials \"onprem\" <<<\n[after]\nz = 1\n"), "{:?}", moved.expose());
        assert_eq!(s.merge(&Secret::new(""), &doc("A"), f).expect("empty").expose(), s.render(&doc("A")).expose());
    }

    #[test]
    fn conflicts_and_foreign_files_are_refused_without_quoting_them() {
        let s = CredentialsSection::new("--install-profile", "onprem").expect("name");
        let f = Path::new("/c");
        let msg = s.merge(&Secret::new("[onprem]\naws_secret_access_key = hunter2\n"), &doc("A"), f);
        let msg = msg.expect_err("shadowed").to_string();
        assert_eq!(
            msg,
            "/c: [onprem] is already defined outside credpush's managed block at line 1 (fix: remove that section, or choose another --install-profile)"
        );
        let json = Secret::new("{\"Version\":1,\"SecretAccessKey\":\"hunter2\"}\n");
        let msg = s.merge(&json, &doc("A"), f).expect_err("json").to_string();
        assert!(msg.contains("holds JSON") && !msg.contains("hunter2"), "{msg}");
        let broken =
            Secret::new("# >>> credpush managed credentials \"onprem\" >>>\naws_secret_access_key = hunter2\n");
        let msg = s.merge(&broken, &doc("A"), f).expect_err("half").to_string();
        assert!(msg.contains("begin marker but no end marker") && !msg.contains("hunter2"), "{msg}");
        assert!(decode(vec![0xff, b'x'], f).expect_err("binary").to_string().contains("not UTF-8"));
        assert!(CredentialsSection::new("--install-profile", "a b").is_err());
        assert_eq!(format!("{:?}", s.render(&doc("A"))), "(redacted)");
    }
}
