//! An alarm rule reads its numbers exactly. Found by the `alarm_rule` fuzz
//! target (server/fuzz): serde_json's default float parsing read some
//! numbers one unit in the last place off (`2.22222222e125`, the shortest
//! form of the fuzzer's 126-digit hysteresis, as 2.2222222200000002e125),
//! so a rule written out and read again was another rule, and an
//! `--alarm-rules` file (read as JSON values, written out, read again) could
//! differ from the same rule published.

use kite_server::alarms::{Alarms, Rule};

/// The fuzzer's hysteresis: an integer too long for u64.
const LONG: &str = "2222222220000000000000000000000000000000000000000000000000000000000000\
                    00000000000000000000000000000000000016397105843297379220";

#[test]
fn rule_numbers_are_read_exactly_and_survive_a_round_trip() {
    let json = format!(
        r#"{{"measurement":"battery","condition":"<","threshold":{LONG},"hysteresis":{LONG}}}"#
    );
    let rule = Rule::parse(json.as_bytes()).unwrap();
    let exact: f64 = LONG.parse().unwrap();
    assert_eq!(rule.threshold, exact);
    assert_eq!(rule.hysteresis, exact);

    let written = serde_json::to_vec(&rule).unwrap();
    assert_eq!(
        Rule::parse(&written).unwrap(),
        rule,
        "written and read again"
    );

    let file = format!(r#"{{"low-battery":{json}}}"#);
    let rules = Alarms::parse_file(file.as_bytes()).unwrap();
    assert_eq!(
        Rule::parse(&rules[0].1).unwrap(),
        rule,
        "from --alarm-rules"
    );
}
