//! Unit tests of the parent module.

use super::outcome::{last_line, profile_word};

#[test]
fn reasons_come_from_fetch_last_line_escaped() {
    let err = "warning: x\ncredpush: error: --owner \"nobody-x\" is invalid: is not a user\n\n";
    assert_eq!(last_line(err).as_deref(), Some("--owner \"nobody-x\" is invalid: is not a user"));
    assert_eq!(last_line("\n \n"), None);
    let hostile = last_line("credpush: error: \u{1b}[31mred").unwrap_or_default();
    assert!(!hostile.contains('\u{1b}'), "{hostile}");
}

#[test]
fn the_profile_word_is_read_from_the_summary() {
    assert_eq!(
        profile_word("/p written: parameter version 3, expires X, key id ...ABCD, profile created\n"),
        Some("created")
    );
    assert_eq!(profile_word("/p unchanged: parameter version 3, expires X, key id ...ABCD\n"), None);
}
