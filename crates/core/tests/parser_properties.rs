//! Property tests of the rule language, the rules file, the value policy and the name folding of
//! match keys: no input makes a parser panic, every error's line and column point inside the
//! input, and names fold as NFKC then lower case.

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

/// A valid condition from a small grammar: comparisons joined by and, or, not and parentheses.
fn valid_condition() -> impl Strategy<Value = String> {
    let comparison = prop_oneof![
        Just("true".to_string()),
        prop_oneof![Just("A"), Just("B"), Just("C")].prop_map(|tier| format!("tier == \"{tier}\"")),
        prop_oneof![Just("上海"), Just("广东/深圳"), Just("浙江")]
            .prop_map(|region| format!("region ^= \"{region}\"")),
        (0u32..5_000_000).prop_map(|revenue| format!("attr.annual_revenue >= {revenue}")),
        Just("industry in [\"金融\", \"制造\"]".to_string()),
        Just("attr.product_lines contains \"ERP\"".to_string()),
        Just("source != \"官网\"".to_string()),
    ];
    comparison.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(left, right)| format!("{left} and {right}")),
            (inner.clone(), inner.clone()).prop_map(|(left, right)| format!("({left} or {right})")),
            inner.prop_map(|condition| format!("not ({condition})")),
        ]
    })
}

/// A rules file the parser should accept: up to six rules with distinct names.
fn valid_rules() -> impl Strategy<Value = String> {
    let rule = (
        valid_condition(),
        prop_oneof![
            Just("{ team = \"hq\" }".to_string()),
            Just("{ reps = [\"r1\", \"r2\"] }".to_string()),
            Just("{ skill = \"金融\" }".to_string()),
            Just("{ skill = \"英语\", team = \"east\" }".to_string()),
        ],
        prop_oneof![
            Just("round_robin"),
            Just("least_loaded"),
            Just("weighted"),
            Just("first_touch"),
            Just("sticky")
        ],
        prop::option::of(prop_oneof![Just("junior"), Just("mid"), Just("senior")]),
        any::<bool>(),
    );
    prop::collection::vec(rule, 1..6).prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(index, (when, to, strategy, level, fallthrough))| {
                let mut text = format!(
                    "[[rule]]\nname = \"规则{index}\"\nwhen = '{when}'\nto = {to}\nstrategy = \"{strategy}\"\n"
                );
                if let Some(level) = level {
                    text.push_str(&format!("min_level = \"{level}\"\n"));
                }
                if fallthrough {
                    text.push_str("fallthrough = true\n");
                }
                text
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// What a rule means, without where its text stood.
fn meaning(rules: &RuleSet) -> Vec<String> {
    rules
        .rules
        .iter()
        .map(|rule| {
            format!(
                "{} | {} | {} | {} | {:?} | {}",
                rule.name,
                rule.condition.source(),
                rule.target,
                rule.strategy,
                rule.min_level,
                rule.fallthrough
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// parse → print → parse gives the same rules, and printing is a fixed point.
    #[test]
    fn printed_rules_parse_back_to_the_same_rules(source in valid_rules()) {
        let parsed = RuleSet::parse(&source);
        prop_assert!(parsed.is_ok(), "{source}\n{:?}", parsed.err());
        let parsed = parsed.unwrap();
        let printed = parsed.to_toml();
        let again = RuleSet::parse(&printed);
        prop_assert!(again.is_ok(), "{printed}\n{:?}", again.err());
        let again = again.unwrap();
        prop_assert_eq!(meaning(&parsed), meaning(&again), "{}", printed);
        prop_assert_eq!(again.to_toml(), printed);
    }

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

#[test]
fn a_rules_file_prints_in_the_canonical_layout() {
    let source = "# 华东\n[[rule]]\nname = \"华东大客户\"\nwhen = 'tier == \"A\" and region ^= \"上海\"'\nstrategy = \"least_loaded\"\nto = { skill = \"金融\", team = \"east\" }\nmin_level = \"senior\"\n\n[[rule]]\nname = \"兜底\"\nwhen = 'true'\nto = { reps = [\"r1\", \"r2\"] }\nstrategy = \"round_robin\"\nfallthrough = true\n";
    let printed = RuleSet::parse(source).unwrap().to_toml();
    assert_eq!(
        printed,
        "[[rule]]\nname = \"华东大客户\"\nwhen = 'tier == \"A\" and region ^= \"上海\"'\nstrategy = \"least_loaded\"\nmin_level = \"senior\"\n\n[rule.to]\nteam = \"east\"\nskill = \"金融\"\n\n[[rule]]\nname = \"兜底\"\nwhen = \"true\"\nstrategy = \"round_robin\"\nfallthrough = true\n\n[rule.to]\nreps = [\"r1\", \"r2\"]\n"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The match form of a name folds as NFKC then lower case would, whatever the text: the
    /// keys stored by earlier builds must still match.
    #[test]
    fn folded_names_equal_nfkc_then_lower_case(name in any::<String>()) {
        use unicode_normalization::UnicodeNormalization;
        let plain = name.nfkc().collect::<String>().to_lowercase();
        let folded = allot_core::matching::folded_name(&name);
        prop_assert_eq!(folded.as_ref(), plain.as_str());
    }
}
