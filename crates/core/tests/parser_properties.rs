//! Property tests of the rule language, the rules file and the value policy: no input makes a
//! parser panic, and every error's line and column point inside the input.

use allot_core::condition::Condition;
use allot_core::rules::RuleSet;
use allot_core::value::ValuePolicy;
use proptest::prelude::*;

/// Where an error may point: a line of the input (or the one after its last), and a column
/// of that line (or just after its end), counted in characters or bytes.
fn inside(source: &str, line: usize, column: usize) -> bool {
    let lines: Vec<&str> = source.split('\n').collect();
    line >= 1
        && line <= lines.len() + 1
        && column >= 1
        && column <= lines.get(line - 1).map_or(0, |text| text.len()) + 1
}

/// Words and marks of the condition language, and some that are not.
fn condition_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tier".to_string()),
        Just("region".to_string()),
        Just("attr.annual_revenue".to_string()),
        Just("attr.product_lines".to_string()),
        Just("score".to_string()),
        Just("p_alive".to_string()),
        Just("==".to_string()),
        Just("!=".to_string()),
        Just(">=".to_string()),
        Just("<".to_string()),
        Just("^=".to_string()),
        Just("in".to_string()),
        Just("not".to_string()),
        Just("contains".to_string()),
        Just("and".to_string()),
        Just("or".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just("true".to_string()),
        Just("\"A\"".to_string()),
        Just("\"上海\"".to_string()),
        Just("\"unterminated".to_string()),
        Just("\n".to_string()),
        "[0-9]{1,12}(\\.[0-9]{1,4})?",
        "-?[0-9]{1,3}e[0-9]{1,3}",
        any::<char>().prop_map(String::from),
    ]
}

fn condition_source() -> impl Strategy<Value = String> {
    prop::collection::vec(condition_token(), 0..24).prop_map(|tokens| tokens.join(" "))
}

/// Lines of a rules file: the keys it knows with plausible and implausible values.
fn rules_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[[rule]]".to_string()),
        "[a-z]{1,8}".prop_map(|name| format!("name = \"{name}\"")),
        condition_source()
            .prop_map(|condition| format!("when = '{}'", condition.replace(['\'', '\n'], " "))),
        Just("to = { team = \"hq\" }".to_string()),
        Just("to = { reps = [\"r1\", \"r2\"] }".to_string()),
        Just("to = { skill = \"金融\", team = \"east\" }".to_string()),
        Just("to = { }".to_string()),
        prop_oneof![
            Just("round_robin"),
            Just("least_loaded"),
            Just("weighted"),
            Just("performance"),
            Just("sticky"),
            Just("nonsense")
        ]
        .prop_map(|strategy| format!("strategy = \"{strategy}\"")),
        Just("min_level = \"senior\"".to_string()),
        Just("fallthrough = true".to_string()),
        Just("unknown = 1".to_string()),
        ".{0,30}",
    ]
}

fn rules_source() -> impl Strategy<Value = String> {
    prop::collection::vec(rules_line(), 0..20).prop_map(|lines| lines.join("\n"))
}

/// Lines of a value policy: sections and keys it knows, and values of every kind.
fn policy_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[pool]".to_string()),
        Just("[rebalance]".to_string()),
        Just("[service.calendar]".to_string()),
        Just("[service.tier.A]".to_string()),
        Just("[[tier]]".to_string()),
        Just("[weights]".to_string()),
        Just("name = \"A\"".to_string()),
        Just("min_score = 80".to_string()),
        Just("claim_limit_per_day = 20".to_string()),
        Just("claim_limit_per_day = -1".to_string()),
        Just("holding_cap = { A = 30, Z = 1 }".to_string()),
        Just("reclaim_after_days = { A = 60 }".to_string()),
        Just("time_zone = \"Asia/Shanghai\"".to_string()),
        Just("time_zone = \"Mars/Olympus\"".to_string()),
        Just("working_hours = [\"09:00-12:00\", \"11:00-18:00\"]".to_string()),
        Just("first_response = \"2h\"".to_string()),
        Just("first_response = \"2 weeks\"".to_string()),
        Just("move_penalty = { A = 60 }".to_string()),
        Just("load_band_costs = [5, 10, 1]".to_string()),
        "[a-z_]{1,12} = [0-9]{1,6}",
        ".{0,30}",
    ]
}

fn policy_source() -> impl Strategy<Value = String> {
    prop::collection::vec(policy_line(), 0..20).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn conditions_never_panic_and_point_inside(source in condition_source()) {
        if let Err(error) = Condition::parse(&source) {
            prop_assert!(
                inside(&source, error.line, error.column),
                "{source:?}: line {} column {}: {}", error.line, error.column, error.message
            );
        }
    }

    #[test]
    fn arbitrary_text_is_never_a_panic(source in ".{0,200}") {
        let _ = Condition::parse(&source);
        let _ = RuleSet::parse(&source);
        let _ = ValuePolicy::parse(&source);
    }

    #[test]
    fn rules_files_never_panic_and_point_inside(source in rules_source()) {
        if let Err(errors) = RuleSet::parse(&source) {
            prop_assert!(!errors.is_empty());
            for error in errors {
                if let (Some(line), Some(column)) = (error.line, error.column) {
                    prop_assert!(inside(&source, line, column), "{source:?}: {error}");
                }
            }
        }
    }

    #[test]
    fn policies_never_panic_and_point_inside(source in policy_source()) {
        if let Err(errors) = ValuePolicy::parse(&source) {
            prop_assert!(!errors.is_empty());
            for error in errors {
                if let (Some(line), Some(column)) = (error.line, error.column) {
                    prop_assert!(inside(&source, line, column), "{source:?}: {error}");
                }
            }
        }
    }
}

/// The properties above are only as strong as the errors carry positions: a known bad file's
/// do, and point where the mistake is.
#[test]
fn errors_of_a_known_bad_file_carry_their_position() {
    let source = "[[rule]]\nname = \"x\"\nwhen = 'tier == '\nto = { team = \"hq\" }\nstrategy = \"round_robin\"\n";
    let errors = RuleSet::parse(source).unwrap_err();
    let error = &errors[0];
    assert_eq!(error.line, Some(3), "{error}");
    assert!(inside(source, 3, error.column.unwrap()), "{error}");
    let policy = "[pool]\nclaim_limit_per_day = \"many\"\n";
    let errors = ValuePolicy::parse(policy).unwrap_err();
    assert_eq!(errors[0].line, Some(2), "{:?}", errors[0]);
    let condition = Condition::parse("tier ==\n and").unwrap_err();
    assert!(inside("tier ==\n and", condition.line, condition.column));
}
