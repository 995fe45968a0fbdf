//! STS through `credpush assume`.

mod assume;
