//! Properties of the parsers that read what users type (inventories in three formats,
//! `--var`/`--var-json`, durations), checked on generated input in a bounded number of
//! cases: whatever the input, a parser answers with a value or an error, never a panic or
//! a hang; and what it accepts means what it says.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;

use runbook::inventory::{Inventory, VarArg, overrides};
use runbook::playbook::convert::{MAX_DURATION, cli_duration};

/// Lines built from the pieces real inventories are made of, shuffled into any order.
fn toml_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[vars]".to_string()),
        "\\[groups\\.[a-z]{1,3}\\]",
        "\\[hosts\\.[a-z0-9-]{1,4}\\]",
        "\\[groups\\.[a-z]{1,3}\\.vars\\]",
        "hosts = \\[(\"[a-z]{1,3}\"(, )?){0,3}\\]",
        "children = \\[(\"[a-z]{1,3}\"(, )?){0,3}\\]",
        "address = \"[0-9.]{1,15}\"",
        "port = -?[0-9]{1,6}",
        "connection = \"(ssh|local|docker|x)\"",
        "user = \"[a-z]{0,5}\"",
        "[a-z_]{1,6} = (\"[^\"\\\\]{0,6}\"|-?[0-9]{1,4}|true|\\[\\]|\\{\\})",
        "[\\PC]{0,12}",
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

fn ini_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "\\[[a-z]{1,3}(:vars|:children|:hosts)?\\]",
        "[a-z]{1,3}(\\[[0-9a-z]{1,2}:[0-9a-z]{1,2}(:[0-9]{1,2})?\\])?( [a-z_]{1,8}=[^ \\n]{0,6}){0,3}",
        "ansible_(host|port|user|connection)=[a-z0-9.]{0,6}",
        "[a-z_]{1,6}=(\"[^\"]{0,5}\"|[0-9]{1,3}|True|\\[1, 2\\])",
        "[\\PC]{0,12}",
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

fn yaml_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("all:".to_string()),
        "  (hosts|vars|children):",
        "    [a-z]{1,3}:( [a-z0-9]{0,4})?",
        "      [a-z_]{1,8}: [^\\n]{0,6}",
        "- [a-z]{1,3}",
        "[\\PC]{0,12}",
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_toml_inventory_parses_or_is_an_error(text in toml_like()) {
        let _ = Inventory::parse("fuzz", Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn any_ini_inventory_parses_or_is_an_error(text in ini_like()) {
        let _ = Inventory::parse("fuzz", Path::new("fuzz.ini"), &text);
    }

    #[test]
    fn any_yaml_inventory_parses_or_is_an_error(text in yaml_like()) {
        let _ = Inventory::parse("fuzz", Path::new("fuzz.yml"), &text);
    }

    #[test]
    fn var_text_is_kept_exactly(key in "[a-z_][a-z0-9_]{0,8}", value in "[\\PC]{0,20}") {
        let vars = overrides(&[], &[VarArg::Text(format!("{key}={value}"))]).unwrap();
        prop_assert_eq!(vars.get(&key), Some(&serde_json::Value::String(value)));
    }

    #[test]
    fn any_var_argument_is_a_value_or_an_error(arg in "[\\PC]{0,24}", json in any::<bool>()) {
        let a = if json { VarArg::Json(arg) } else { VarArg::Text(arg) };
        let _ = overrides(&[], &[a]);
    }

    #[test]
    fn durations_mean_what_they_say(n in 0u64..100_000, unit in prop::sample::select(vec![("s", 1u64), ("m", 60), ("h", 3600)])) {
        let d = cli_duration(&format!("{n}{}", unit.0));
        let secs = n * unit.1;
        if secs <= MAX_DURATION.as_secs() {
            prop_assert_eq!(d, Ok(Duration::from_secs(secs)));
        } else {
            prop_assert!(d.is_err(), "{secs}s is over the bound");
        }
    }

    #[test]
    fn any_duration_text_is_a_duration_or_an_error(text in "[\\PC]{0,16}") {
        let _ = cli_duration(&text);
    }
}
