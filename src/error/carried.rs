//! [`Carried`]: how the bottom layer holds an error whose type lives in a layer above it (the inventory's, the
//! directory rule's) without importing that layer. The layer that owns the type converts it into
//! [`crate::error::Error`] with a `From` impl beside the type, so the arrow points down.

use std::error::Error as StdError;
use std::fmt;

/// An upper layer's error, boxed: its message and cause chain pass through unchanged (`Display` and `source`
/// forward to it), and `refusal` says whether the input is what to fix (exit 2) rather than this machine (exit 4)
/// where the variant's exit code depends on it.
#[derive(Debug)]
pub struct Carried {
    error: Box<dyn StdError + Send + Sync + 'static>,
    refusal: bool,
}

impl Carried {
    /// Carries `error`; not a refusal unless marked so.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Self { error: Box::new(error), refusal: false }
    }

    /// The same error, marked as a refusal of the input when `yes`.
    pub fn refusal(self, yes: bool) -> Self {
        Self { refusal: yes, ..self }
    }

    /// Whether it was marked as a refusal of the input.
    pub fn is_refusal(&self) -> bool {
        self.refusal
    }

    /// The carried error as its own type, for a caller above that needs its variant.
    pub fn downcast_ref<T: StdError + 'static>(&self) -> Option<&T> {
        self.error.downcast_ref()
    }
}

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl StdError for Carried {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}
