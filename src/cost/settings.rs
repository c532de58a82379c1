//! The inventory's `[cost]` table: the budget, the currency, and prices for what no API
//! prices. Amounts are read from the file's text, digit by digit, and every mistake is
//! reported at its line and column, a misspelt key with the nearest valid one.

use indexmap::IndexMap;
use toml::Spanned;

use super::money::{Currency, Money, Rate};
use crate::error::{Diagnostic, Error, Location};

/// `[cost]` as written, with the place of every key and value.
pub type RawCost = IndexMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostSettings {
    /// A plan whose monthly cost would exceed this fails (`--budget` overrides it).
    pub budget_monthly: Option<Money>,
    /// The currency of every price (default USD, DigitalOcean's and AWS's).
    pub currency: Currency,
    /// Snapshot storage per GiB-month (default: DigitalOcean's published price).
    pub snapshot_gib_month: Option<Rate>,
    /// A Route 53 hosted zone a month.
    pub route53_zone_month: Option<Money>,
    /// A Route 53 health check a month.
    pub route53_health_check_month: Option<Money>,
    /// The DNS zones this inventory's cost includes (Route 53 bills each hosted zone).
    pub dns_zones: Vec<String>,
}

pub const KEYS: &[&str] = &[
    "budget_monthly",
    "currency",
    "snapshot_gib_month",
    "route53_zone_month",
    "route53_health_check_month",
    "dns_zones",
];

pub fn parse(raw: RawCost, label: &str, text: &str) -> Result<CostSettings, Error> {
    let at = |offset: usize, message: String| {
        Error::Inventory(
            Diagnostic::new(format!("invalid inventory {label}: {message}"))
                .at(Location::at_offset(label, text, offset)),
        )
    };
    let mut s = CostSettings::default();
    for (key, value) in raw {
        let (k, v) = (key.get_ref().as_str(), value.get_ref());
        let start = value.span().start;
        let source = text.get(value.span()).unwrap_or("").trim();
        let amount = |what: &str| -> Result<String, Error> {
            match v {
                toml::Value::Integer(_) | toml::Value::Float(_) if !source.contains(['e', 'E']) => {
                    Ok(source.replace('_', ""))
                }
                _ => Err(at(
                    start,
                    format!("[cost] {k} must be {what} (a number like 40 or 0.06), not {source}"),
                )),
            }
        };
        match k {
            "budget_monthly" => {
                let m =
                    Money::parse(&amount("an amount a month")?).map_err(|e| at(start, format!("[cost] {k}: {e}")))?;
                s.budget_monthly = Some(m);
            }
            "route53_zone_month" | "route53_health_check_month" => {
                let m =
                    Money::parse(&amount("an amount a month")?).map_err(|e| at(start, format!("[cost] {k}: {e}")))?;
                if k == "route53_zone_month" {
                    s.route53_zone_month = Some(m);
                } else {
                    s.route53_health_check_month = Some(m);
                }
            }
            "snapshot_gib_month" => {
                let r = Rate::parse(&amount("a price per GiB-month")?)
                    .map_err(|e| at(start, format!("[cost] {k}: {e}")))?;
                s.snapshot_gib_month = Some(r);
            }
            "currency" => {
                let code = v.as_str().ok_or_else(|| {
                    at(
                        start,
                        format!("[cost] currency must be a string like \"USD\", not {source}"),
                    )
                })?;
                s.currency = Currency::parse(code).map_err(|e| at(start, format!("[cost] currency: {e}")))?;
            }
            "dns_zones" => {
                let zones = v.as_array().filter(|a| a.iter().all(|z| z.is_str())).ok_or_else(|| {
                    at(
                        start,
                        format!("[cost] dns_zones must be a list of zone names like [\"example.com\"], not {source}"),
                    )
                })?;
                s.dns_zones = zones.iter().filter_map(|z| z.as_str()).map(str::to_string).collect();
            }
            other => {
                let hint = match crate::builtins::suggest(other, KEYS.iter().copied()) {
                    Some(n) => format!("; did you mean `{n}`?"),
                    None => format!(" (known: {})", KEYS.join(", ")),
                };
                return Err(at(key.span().start, format!("unknown key `{other}` in [cost]{hint}")));
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_nearest_key() {
        let nearest = |w| crate::builtins::suggest(w, KEYS.iter().copied());
        assert_eq!(nearest("budget_montly"), Some("budget_monthly"));
        assert_eq!(nearest("budget"), None);
        assert_eq!(nearest("curency"), Some("currency"));
    }
}
