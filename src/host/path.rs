//! The one check of a target path, for every way a path reaches a writer: `credpush_path` and `--path` (the CLI)
//! and the module's `path` and `config_file`.

/// Checks a target path before anything is sent: absolute or `~/…`, and no characters a shell line cannot carry,
/// no `$` (never expanded, so surely a mistake), no `..` components, no trailing `/`. Returns why not; callers
/// name the input.
pub fn check(path: &str) -> Result<(), &'static str> {
    if !(path.starts_with('/') || path.starts_with("~/")) {
        return Err("expected an absolute path or one under ~/ (e.g. ~/.aws/temp.json)");
    }
    if path.ends_with('/') || path.chars().any(|c| c.is_control()) || path.contains('$') {
        return Err("expected a file path without $, control characters or a trailing /");
    }
    if path.split('/').any(|part| part == "..") {
        return Err("expected a path without .. components (write the directory it means)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_rule_for_every_path() {
        for ok in ["/srv/ci/.aws/temp.json", "~/.aws/temp.json", "/a/b..c/x"] {
            assert_eq!(super::check(ok), Ok(()), "{ok}");
        }
        for bad in ["rel/x", "~x/y", "/x/", "/a/../b", "/a/$HOME/x", "/a/\u{1b}x", "/a\nb", "~"] {
            assert!(super::check(bad).is_err(), "{bad:?}");
        }
    }
}
