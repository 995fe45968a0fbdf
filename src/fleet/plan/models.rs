//! How each SDK refreshes `credential_process` credentials: the windows `plan` judges a schedule against, each
//! read from that SDK's source (cited on its variant).
//!
//! Two windows, both measured back from the document's Expiration:
//! - **mandatory**: every call waits for a re-read, and a re-read that fails fails the call. A host must hold a
//!   fresh document before any SDK reading it enters this window; `plan` calls a schedule safe only then.
//! - **advisory**: the SDK re-reads without making anyone wait, and ignores a failed or stale re-read. Entering it
//!   with no fresh document costs re-reads (one `credential_process` run per call or per backoff), never a call.

use crate::error::{Error, Result};

const MIN: u64 = 60;

/// An SDK refresh model `plan` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sdk {
    /// botocore's default (legacy) path, used by the AWS CLI and boto3: boto/botocore, botocore/credentials.py,
    /// `_DEFAULT_ADVISORY_REFRESH_TIMEOUT = 15 * 60` and `_DEFAULT_MANDATORY_REFRESH_TIMEOUT = 10 * 60`, read by
    /// `RefreshableCredentials._refresh`: a failed advisory refresh is logged and the old set kept; a mandatory one
    /// blocks every thread and raises.
    Botocore,
    /// botocore's new path behind `DEFAULT_NEW_CREDENTIAL_REFRESH` (boto/botocore, botocore/credentials.py, the
    /// flag-gated `RefreshableCredentials` path of boto/botocore#3760, which its maintainers say replaces the legacy
    /// one): a 1-minute mandatory window, and an advisory window picked from the lifetime (Expiration - now) when a
    /// set is obtained: 5 minutes up to 20 minutes, 15 below 90, 60 from 90. Failed refreshes fall back to the
    /// cached set with a 5-10 minute backoff (boto/botocore#3733), so the advisory window only costs re-reads.
    BotocoreNew,
    /// The Java v2 SDK: aws/aws-sdk-java-v2, core/auth/src/main/java/software/amazon/awssdk/auth/credentials/
    /// ProcessCredentialsProvider.java. Released: `staleTime` = Expiration and a `credentialRefreshThreshold`
    /// (prefetch) of 15 seconds. aws/aws-sdk-java-v2#7053 set `DEFAULT_STALE_TIME = Duration.ofMinutes(1)` and a
    /// 5-minute prefetch for every provider; #7330 reverted that for process credentials on the same feature
    /// branch. `plan` uses the stricter 1 and 5 minutes, so a schedule it calls safe stays safe either way. In
    /// the prefetch window one caller refreshes (`CachedSupplier`'s OneCallerBlocks) and a failure keeps the
    /// cached value: extra reads only.
    JavaV2,
    /// The Go v2 SDK: aws/aws-sdk-go-v2, aws/credential_cache.go. Process credentials are outside
    /// `inScopeSources`, so `CredentialsCache` keeps `legacyRetrieve` for them: a re-read only once
    /// `Credentials.Expired()`, with `CredentialsCacheOptions.ExpiryWindow` 0 (config/resolve_credentials.go sets
    /// none for `processCredentials`). Mandatory window 0: the document must be replaced before it expires.
    GoV2,
    /// The JavaScript v3 SDK: aws/aws-sdk-js-v3, packages/credential-provider-node/src/defaultProvider.ts,
    /// `credentialsTreatedAsExpired` (less than 300000 ms left), and smithy-lang/smithy-typescript,
    /// packages/core/src/util-identity-and-auth/memoizeIdentityProvider.ts, `EXPIRATION_MS = 300_000`: with 5
    /// minutes left every call awaits a re-resolve, whose failure fails the call. No advisory window.
    JsV3,
    /// The Rust SDK: smithy-lang/smithy-rs, rust-runtime/aws-smithy-runtime/src/client/identity/cache/lazy.rs,
    /// `DEFAULT_BUFFER_TIME = 10 s` (the cached identity counts as expired that long before Expiration, less a
    /// jitter of up to half of it added back by `DEFAULT_BUFFER_TIME_JITTER_FRACTION`); the next call loads and
    /// waits. 10 seconds is the earliest. No advisory window.
    Rust,
}

impl Sdk {
    /// Every model, in the order reports list them.
    pub const ALL: [Sdk; 6] = [Sdk::Botocore, Sdk::BotocoreNew, Sdk::JavaV2, Sdk::GoV2, Sdk::JsV3, Sdk::Rust];

    /// The `--sdk` name.
    pub fn name(self) -> &'static str {
        match self {
            Sdk::Botocore => "botocore",
            Sdk::BotocoreNew => "botocore-new",
            Sdk::JavaV2 => "java-v2",
            Sdk::GoV2 => "go-v2",
            Sdk::JsV3 => "js-v3",
            Sdk::Rust => "rust",
        }
    }

    /// Who uses it, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Sdk::Botocore => "botocore (AWS CLI, boto3)",
            Sdk::BotocoreNew => "botocore with DEFAULT_NEW_CREDENTIAL_REFRESH",
            Sdk::JavaV2 => "Java v2",
            Sdk::GoV2 => "Go v2",
            Sdk::JsV3 => "JavaScript v3",
            Sdk::Rust => "Rust",
        }
    }

    /// Seconds before Expiration from which every call waits on a re-read that must succeed.
    pub fn mandatory(self) -> u64 {
        match self {
            Sdk::Botocore => 10 * MIN,
            Sdk::BotocoreNew | Sdk::JavaV2 => MIN,
            Sdk::GoV2 => 0,
            Sdk::JsV3 => 5 * MIN,
            Sdk::Rust => 10,
        }
    }

    /// Seconds before Expiration from which the SDK re-reads without waiting, for credentials with `lifetime`
    /// seconds left when it read them; 0 for none.
    pub fn advisory(self, lifetime: u64) -> u64 {
        match self {
            Sdk::Botocore => 15 * MIN,
            Sdk::BotocoreNew if lifetime <= 20 * MIN => 5 * MIN,
            Sdk::BotocoreNew if lifetime < 90 * MIN => 15 * MIN,
            Sdk::BotocoreNew => 60 * MIN,
            Sdk::JavaV2 => 5 * MIN,
            Sdk::GoV2 | Sdk::JsV3 | Sdk::Rust => 0,
        }
    }

    /// What entering the advisory window with nothing fresh costs.
    pub fn advisory_cost(self) -> &'static str {
        match self {
            Sdk::Botocore => "one credential_process run per API call until the next document lands; no call fails",
            Sdk::BotocoreNew => "a re-read, then one per backoff; no call fails",
            Sdk::JavaV2 => "one caller re-reads per call until the next document lands; no call fails",
            Sdk::GoV2 | Sdk::JsV3 | Sdk::Rust => "none (no advisory window)",
        }
    }

    /// Parses one `--sdk` value.
    pub fn parse(raw: &str) -> Result<Sdk> {
        Sdk::ALL.into_iter().find(|s| s.name() == raw).ok_or_else(|| {
            let names: Vec<&str> = Sdk::ALL.iter().map(|s| s.name()).collect();
            Error::invalid("--sdk", raw, format!("is not an SDK plan knows (expected one of {})", names.join(", ")))
        })
    }

    /// Parses every `--sdk` value (all models when there are none), sorted and without repeats.
    pub fn parse_all(raw: &[String]) -> Result<Vec<Sdk>> {
        if raw.is_empty() {
            return Ok(Sdk::ALL.to_vec());
        }
        let mut out = raw.iter().map(|r| Sdk::parse(r)).collect::<Result<Vec<_>>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}
