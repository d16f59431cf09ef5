//! Property tests of the file readers: no CSV text and no bytes given as a workbook make a
//! reader panic, and every problem names a line of the file.

use allot_files::csv::{
    read_interactions, read_reps, read_teams, read_tickets, read_transactions, CustomerRows,
};
use allot_files::spreadsheet::workbook_as_csv;
use chrono::FixedOffset;
use proptest::prelude::*;

/// Cells of every kind the readers meet, and some they should refuse.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("c1".to_string()),
        Just("r1".to_string()),
        Just("hq".to_string()),
        Just("上海/浦东".to_string()),
        Just("2026-11-25".to_string()),
        Just("2026-11-25T09:00:00+08:00".to_string()),
        Just("2026-02-30".to_string()),
        Just("12.50".to_string()),
        Just("-3".to_string()),
        Just("1e999".to_string()),
        Just("true".to_string()),
        Just("A".to_string()),
        Just("major".to_string()),
        Just("visit".to_string()),
        Just("\"quoted, with comma\"".to_string()),
        Just("\"unterminated".to_string()),
        Just("13800138000".to_string()),
        Just("a@b.cn".to_string()),
        Just("91310000MA1FL8XQ37".to_string()),
        ".{0,12}",
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("id"),
            Just("name"),
            Just("customer_id"),
            Just("rep_id"),
            Just("team_id"),
            Just("parent_id"),
            Just("manager_id"),
            Just("email"),
            Just("role"),
            Just("level"),
            Just("region"),
            Just("tier"),
            Just("owner_id"),
            Just("phone"),
            Just("at"),
            Just("amount"),
            Just("kind"),
            Just("minutes"),
            Just("outcome"),
            Just("opened_at"),
            Just("severity"),
            Just("subject"),
            Just("attr.annual_revenue"),
            Just("attr."),
            Just("unknown"),
        ],
        0..8,
    )
    .prop_map(|names| names.join(","))
}

fn csv_file() -> impl Strategy<Value = String> {
    (
        header(),
        prop::collection::vec(prop::collection::vec(cell(), 0..9), 0..12),
    )
        .prop_map(|(header, rows)| {
            let mut text = header;
            for row in rows {
                text.push('\n');
                text.push_str(&row.join(","));
            }
            text
        })
}

fn lines_of(text: &str) -> usize {
    text.split('\n').count()
}

fn named_lines(problems: &[allot_store::imports::RowProblem], lines: usize) -> bool {
    problems
        .iter()
        .all(|problem| problem.line >= 1 && problem.line <= lines + 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn csv_readers_never_panic_and_name_lines_of_the_file(text in csv_file()) {
        let bytes = text.as_bytes();
        let lines = lines_of(&text);
        if let Ok(parsed) = read_teams(bytes) {
            prop_assert!(named_lines(&parsed.problems, lines), "{text:?}: {:?}", parsed.problems);
        }
        if let Ok(parsed) = read_reps(bytes) {
            prop_assert!(named_lines(&parsed.problems, lines), "{text:?}: {:?}", parsed.problems);
        }
        if let Ok(parsed) = read_transactions(bytes) {
            prop_assert!(named_lines(&parsed.problems, lines), "{text:?}: {:?}", parsed.problems);
        }
        if let Ok(parsed) = read_interactions(bytes) {
            prop_assert!(named_lines(&parsed.problems, lines), "{text:?}: {:?}", parsed.problems);
        }
        if let Ok(parsed) = read_tickets(bytes) {
            prop_assert!(named_lines(&parsed.problems, lines), "{text:?}: {:?}", parsed.problems);
        }
        if let Ok(rows) = CustomerRows::open(bytes) {
            for row in rows {
                if let Err(problem) = row {
                    prop_assert!(
                        named_lines(std::slice::from_ref(&problem), lines),
                        "{text:?}: {problem:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = read_teams(bytes.as_slice());
        let _ = read_reps(bytes.as_slice());
        let _ = read_transactions(bytes.as_slice());
        if let Ok(rows) = CustomerRows::open(bytes.as_slice()) {
            for _ in rows {}
        }
        // Not a zip archive, or a broken one: refused, not a panic.
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        let _ = workbook_as_csv(bytes.clone(), None, offset);
        let mut zipped = b"PK\x03\x04".to_vec();
        zipped.extend(bytes);
        let _ = workbook_as_csv(zipped, None, offset);
    }
}
