use super::*;

const M: u64 = 60;
const H: u64 = 3600;

/// duration, every, build, chained -> safe?, largest safe every.
type Row = (u64, u64, u64, bool, bool, Option<u64>);

/// Against every SDK, botocore's 10-minute mandatory window binds. Covers the chaining cap.
#[test]
fn schedule_table() {
    let table: &[Row] = &[
        // The two anchors: 1-hour credentials every 60 minutes refused, every 30 minutes accepted.
        (H, 60 * M, 5 * M, true, false, Some(45 * M)),
        (H, 30 * M, 5 * M, true, true, Some(45 * M)),
        (H, 30 * M, 0, false, true, Some(50 * M)),
        // The boundary: margin exactly 0 is safe, one second more is not.
        (H, 45 * M, 5 * M, false, true, Some(45 * M)),
        (H, 45 * M + 1, 5 * M, false, false, Some(45 * M)),
        // A slow build eats the margin.
        (H, 30 * M, 21 * M, false, false, Some(29 * M)),
        // 2-hour credentials every hour: fine for a user caller, refused under role chaining (1-hour cap), and
        // the advice is for the capped duration.
        (2 * H, H, 5 * M, false, true, Some(H + 45 * M)),
        (2 * H, H, 5 * M, true, false, Some(45 * M)),
        (2 * H, 30 * M, 5 * M, true, false, Some(45 * M)),
        (12 * H, 6 * H, 10 * M, false, true, Some(11 * H + 40 * M)),
        // Shortest credentials: 15 minutes leave 5 before botocore's mandatory window, none with a 5-minute build.
        (15 * M, M, 0, false, true, Some(5 * M)),
        (15 * M, M, 5 * M, false, false, None),
        (20 * M, 4 * M, M, false, true, Some(9 * M)),
    ];
    for &(duration, every, build, chained, safe, safe_every) in table {
        let s = Schedule { duration, every, build, chained };
        let v = check(&s);
        assert_eq!((v.is_safe(), v.safe_every, v.binding), (safe, safe_every, Sdk::Botocore), "{s:?} -> {v:?}");
        assert_eq!(v.margin, duration as i64 - 600 - every as i64 - build as i64, "{s:?}");
    }
}

/// One SDK's expected line: name, margin in seconds, seconds of advisory re-reads.
type SdkRow = (Sdk, i64, u64);

/// The README's table: 1 h and 2 h documents at 30 and 60 minutes (5-minute build, no chaining), per SDK.
#[test]
fn sdk_table_for_the_readme() {
    let cases: &[(u64, u64, bool, [SdkRow; 6])] = &[
        (
            H,
            30 * M,
            true,
            [
                (Sdk::Botocore, 15 * 60, 0),
                (Sdk::BotocoreNew, 24 * 60, 0),
                (Sdk::JavaV2, 24 * 60, 0),
                (Sdk::GoV2, 25 * 60, 0),
                (Sdk::JsV3, 20 * 60, 0),
                (Sdk::Rust, 25 * 60 - 10, 0),
            ],
        ),
        (
            H,
            60 * M,
            false,
            [
                (Sdk::Botocore, -15 * 60, 0),
                (Sdk::BotocoreNew, -6 * 60, 0),
                (Sdk::JavaV2, -6 * 60, 0),
                (Sdk::GoV2, -5 * 60, 0),
                (Sdk::JsV3, -10 * 60, 0),
                (Sdk::Rust, -5 * 60 - 10, 0),
            ],
        ),
        (
            2 * H,
            30 * M,
            true,
            [
                (Sdk::Botocore, 75 * 60, 0),
                (Sdk::BotocoreNew, 84 * 60, 0),
                (Sdk::JavaV2, 84 * 60, 0),
                (Sdk::GoV2, 85 * 60, 0),
                (Sdk::JsV3, 80 * 60, 0),
                (Sdk::Rust, 85 * 60 - 10, 0),
            ],
        ),
        // The 2-hour document lands with 115 minutes of life, so botocore's new path picks its 60-minute advisory
        // window, and the next one lands 5 minutes inside it: 5 minutes of re-reads, no failed call.
        (
            2 * H,
            60 * M,
            true,
            [
                (Sdk::Botocore, 45 * 60, 0),
                (Sdk::BotocoreNew, 54 * 60, 5 * 60),
                (Sdk::JavaV2, 54 * 60, 0),
                (Sdk::GoV2, 55 * 60, 0),
                (Sdk::JsV3, 50 * 60, 0),
                (Sdk::Rust, 55 * 60 - 10, 0),
            ],
        ),
    ];
    for (duration, every, safe, rows) in cases {
        let s = Schedule { duration: *duration, every: *every, build: 5 * M, chained: false };
        let v = check(&s);
        let got: Vec<SdkRow> = v.sdks.iter().map(|r| (r.sdk, r.margin, r.advisory_reads)).collect();
        assert_eq!((v.is_safe(), v.binding, got), (*safe, Sdk::Botocore, rows.to_vec()), "{s:?}");
    }
}

#[test]
fn sdk_narrows_the_check_and_names_the_binding_model() {
    // 1-hour credentials every 50 minutes with a 5-minute build: the old document has 5 minutes left.
    let s = Schedule { duration: H, every: 50 * M, build: 5 * M, chained: false };
    let all = check(&s);
    assert_eq!((all.is_safe(), all.binding), (false, Sdk::Botocore), "{all:?}");
    let why = all.refusal.expect("refused");
    assert!(why.contains("10m mandatory window of botocore (AWS CLI, boto3) (--sdk botocore)"), "{why}");
    assert!(why.contains("--every 45m or less"), "{why}");
    // Go and JavaScript only: JavaScript's 5-minute window binds, with a margin of exactly 0.
    let some = check_sdks(&s, &[Sdk::GoV2, Sdk::JsV3]);
    assert_eq!((some.is_safe(), some.binding, some.margin, some.safe_every), (true, Sdk::JsV3, 0, Some(50 * M)));
    // botocore's new path alone is safe but spends 10 minutes of its 15-minute advisory window re-reading.
    let new = check_sdks(&s, &[Sdk::BotocoreNew]);
    assert_eq!((new.is_safe(), new.sdks[0].advisory_reads), (true, 10 * M), "{new:?}");
    // Rust's 10 seconds bind alone.
    let rust = check_sdks(&s, &[Sdk::Rust]);
    assert_eq!((rust.binding, rust.margin, rust.safe_every), (Sdk::Rust, 5 * 60 - 10, Some(55 * M - 10)));
}

#[test]
fn sdk_names_parse_and_refuse_junk() {
    assert_eq!(Sdk::parse_all(&[]).expect("all"), Sdk::ALL.to_vec());
    let names = ["js-v3".to_owned(), "botocore".to_owned(), "js-v3".to_owned()];
    assert_eq!(Sdk::parse_all(&names).expect("two"), [Sdk::Botocore, Sdk::JsV3]);
    for s in Sdk::ALL {
        assert_eq!(Sdk::parse(s.name()).expect("round trip"), s);
    }
    let msg = Sdk::parse_all(&["boto".to_owned()]).expect_err("unknown").to_string();
    assert!(msg.contains("boto") && msg.contains("botocore, botocore-new, java-v2, go-v2, js-v3, rust"), "{msg}");
}

#[test]
fn advisory_windows_follow_the_lifetime_on_botocores_new_path() {
    let new = Sdk::BotocoreNew;
    assert_eq!(
        [new.advisory(15 * M), new.advisory(20 * M), new.advisory(20 * M + 1), new.advisory(90 * M - 1)],
        [5 * M, 5 * M, 15 * M, 15 * M]
    );
    assert_eq!([new.advisory(90 * M), new.advisory(12 * H)], [H, H]);
    assert_eq!([Sdk::Botocore.advisory(12 * H), Sdk::GoV2.advisory(H), Sdk::JsV3.advisory(H)], [15 * M, 0, 0]);
}

#[test]
fn refusals_give_the_reason_and_a_safe_every() {
    let v = check(&Schedule { duration: H, every: H, build: 5 * M, chained: true });
    let why = v.refusal.expect("refused");
    assert!(why.contains("1h5m old") && why.contains("only 50m before") && why.contains("--every 45m"), "{why}");
    let v = check(&Schedule { duration: 2 * H, every: 30 * M, build: 5 * M, chained: true });
    let why = v.refusal.expect("refused");
    assert!(why.contains("role chaining") && why.contains("--duration 1h") && why.contains("--every 45m"), "{why}");
    let v = check(&Schedule { duration: 15 * M, every: M, build: 5 * M, chained: false });
    assert!(v.refusal.expect("refused").contains("no schedule is safe"));
}

#[test]
fn render_shows_worst_case_margin_and_each_sdk() {
    let s = Schedule { duration: H, every: 30 * M, build: 5 * M, chained: false };
    let text = render(&s, &check(&s));
    assert!(text.contains("lands at most 35m after the previous was minted"), "{text}");
    assert!(text.contains("has 25m left when the next one lands"), "{text}");
    assert!(text.contains("binding: botocore (AWS CLI, boto3) (--sdk botocore): its 10m mandatory window"), "{text}");
    assert!(text.contains("starts 50m after a document is minted") && text.contains("margin: 15m\n"), "{text}");
    assert!(text.contains("largest safe --every: 45m"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("js-v3") && l.contains("20m") && l.ends_with("safe")), "{text}");
    let s = Schedule { duration: H, every: H, build: 5 * M, chained: false };
    let text = render(&s, &check(&s));
    assert!(text.contains("margin: -15m\n") && text.contains("expired 5m before the next"), "{text}");
    assert!(text.contains("unsafe: calls can fail for up to 15m"), "{text}");
    let s = Schedule { duration: 2 * H, every: H, build: 5 * M, chained: false };
    let text = render(&s, &check(&s));
    let line = text.lines().find(|l| l.starts_with("botocore-new")).expect("botocore-new line");
    assert!(line.contains(" 1h ") && line.contains("safe; re-reads for up to 5m"), "{text}");
}

#[test]
fn flags_parse_and_refuse_junk() {
    assert_eq!(
        parse(Some("1h"), "30m", None, true).expect("ok"),
        Schedule { duration: H, every: 30 * M, build: DEFAULT_BUILD_SECS, chained: true }
    );
    assert!(parse(Some("1h"), "0", None, false).is_err());
    assert!(parse(Some("5m"), "30m", None, false).is_err(), "under STS's 15-minute minimum");
    assert!(parse(None, "soon", None, false).is_err());
    assert!(parse(None, "30m", Some("-1m"), false).is_err());
}

#[test]
fn spans_past_the_maximum_are_refused_not_wrapped() {
    for (every, build) in [
        ("18446744073709551615", None),
        ("5124095576030431h", None),
        ("30m", Some("18446744073709551615")),
        ("30m", Some("5124095576030431h")),
        ("168h1s", None),
    ] {
        let msg = parse(None, every, build, false).expect_err(every).to_string();
        assert!(msg.contains("is longer than the 7-day maximum"), "{msg}");
    }
    assert!(parse(None, "168h", Some("168h"), false).is_ok(), "the maximum itself is accepted");
    let wide = Schedule { duration: H, every: u64::MAX, build: u64::MAX, chained: false };
    assert!(!check(&wide).is_safe(), "a pure check of huge values must not wrap into safe");
}

#[test]
fn span_formats() {
    assert_eq!([span(0), span(59), span(3600), span(5400), span(3661)], ["0s", "59s", "1h", "1h30m", "1h1m1s"]);
}
