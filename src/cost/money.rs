//! Exact amounts: money in integer cents, per-unit rates in millionths, decimal text parsed
//! digit by digit (never through a float), so that sums never print as 39.999999.

use std::fmt;

/// An amount of money in cents (hundredths of the currency's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub const fn from_cents_const(cents: i64) -> Money {
        Money(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// `"40"`, `"39.5"`, `"0.06"`: a non-negative decimal with at most two decimals.
    pub fn parse(text: &str) -> Result<Money, String> {
        parse_decimal(text, 2).map(Money)
    }

    /// A price the API sends as a JSON float (`5.0`, `12.0`), to the nearest cent. Prices
    /// are published in cents, so the rounding only undoes the float's representation.
    pub fn from_api(price: f64) -> Option<Money> {
        (0.0..1e12)
            .contains(&price)
            .then(|| Money((price * 100.0).round() as i64))
    }

    /// `$6.00`, `-$1.50`, `CHF 6.00`.
    pub fn show(self, currency: &Currency) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}{}.{:02}", currency.prefix(), abs / 100, abs % 100)
    }

    /// `+$6.00`, `-$1.50`, `$0.00`: a difference.
    pub fn show_signed(self, currency: &Currency) -> String {
        if self.0 > 0 {
            format!("+{}", self.show(currency))
        } else {
            self.show(currency)
        }
    }

    /// `6.00`: the amount alone, as JSON carries it beside its cents.
    pub fn decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

/// A price per unit (a GiB-month of snapshot storage), in millionths of the currency's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(i64);

impl Rate {
    pub const fn from_micros_const(micros: i64) -> Rate {
        Rate(micros)
    }

    /// `"0.06"`: a non-negative decimal with at most six decimals.
    pub fn parse(text: &str) -> Result<Rate, String> {
        parse_decimal(text, 6).map(Rate)
    }

    /// The price of `thousandths` thousandths of a unit (2.34 GiB = 2340), to the nearest
    /// cent, halves up.
    pub fn times_thousandths(self, thousandths: u64) -> Money {
        // micros × thousandths = 10⁻⁹ units; a cent is 10⁷ of those.
        let billionths = self.0 as i128 * thousandths as i128;
        Money(((billionths + 5_000_000) / 10_000_000) as i64)
    }

    pub fn show(self, currency: &Currency) -> String {
        let (units, frac) = (self.0 / 1_000_000, self.0 % 1_000_000);
        let mut frac = format!("{frac:06}");
        while frac.len() > 2 && frac.ends_with('0') {
            frac.pop();
        }
        format!("{}{units}.{frac}", currency.prefix())
    }
}

/// Parses a non-negative decimal into an integer of `scale` decimal places, exactly.
fn parse_decimal(text: &str, scale: u32) -> Result<i64, String> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (t.contains('.') && frac.is_empty()) {
        return Err(format!("{t:?} is not an amount (write it like 40 or 39.50)"));
    }
    if frac.len() > scale as usize {
        return Err(format!("{t} has more than {scale} decimals"));
    }
    let frac = format!("{frac:0<width$}", width = scale as usize);
    let int: i64 = int.parse().map_err(|_| format!("{t} is too large"))?;
    let frac: i64 = if frac.is_empty() { 0 } else { frac.parse().unwrap_or(0) };
    int.checked_mul(10i64.pow(scale))
        .and_then(|i| i.checked_add(frac))
        .filter(|v| *v < 1_000_000_000_000_000)
        .ok_or_else(|| format!("{t} is too large"))
}

/// A currency by its ISO 4217 code; amounts print with its symbol where it has a common one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Default for Currency {
    fn default() -> Self {
        Currency("USD".into())
    }
}

impl Currency {
    /// Three capital letters (`USD`, `EUR`).
    pub fn parse(code: &str) -> Result<Currency, String> {
        if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(code.to_string()))
        } else {
            Err(format!(
                "{code:?} is not a currency code (three capital letters, e.g. \"USD\")"
            ))
        }
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    fn prefix(&self) -> String {
        match self.0.as_str() {
            "USD" => "$".into(),
            "EUR" => "€".into(),
            "GBP" => "£".into(),
            code => format!("{code} "),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(Money::parse("40"), Ok(Money(4000)));
        assert_eq!(Money::parse("39.5"), Ok(Money(3950)));
        assert_eq!(Money::parse("0.06"), Ok(Money(6)));
        assert!(Money::parse("0.065").unwrap_err().contains("more than 2 decimals"));
        assert!(Money::parse("-1").is_err());
        assert!(Money::parse("forty").unwrap_err().contains("not an amount"));
        assert!(Money::parse("4.").is_err());
        assert_eq!(Rate::parse("0.06"), Ok(Rate(60_000)));
        assert_eq!(Rate::parse("0.055"), Ok(Rate(55_000)));
    }

    #[test]
    fn sums_of_api_floats_stay_exact() {
        // 0.1 + 0.2 in floats is 0.30000000000000004; a hundred $0.10 items are $10.00.
        let ten_cents = Money::from_api(0.1).unwrap();
        let total: Money = std::iter::repeat_n(ten_cents, 100).sum();
        assert_eq!(total.show(&Currency::default()), "$10.00");
        assert_eq!(Money::from_api(5.0), Some(Money(500)));
        assert_eq!(Money::from_api(0.00743999984115362), Some(Money(1)));
        assert_eq!(Money::from_api(f64::NAN), None);
        assert_eq!(Money::from_api(-1.0), None);
    }

    #[test]
    fn snapshot_storage_rounds_to_the_cent() {
        let rate = Rate::parse("0.06").unwrap();
        assert_eq!(rate.times_thousandths(2_340), Money(14)); // 2.34 GiB: $0.1404
        assert_eq!(rate.times_thousandths(25_000), Money(150)); // 25 GiB: $1.50
        assert_eq!(rate.times_thousandths(25), Money(0)); // 0.025 GiB: $0.0015
        assert_eq!(Rate::parse("0.05").unwrap().times_thousandths(2_500), Money(13)); // $0.125, halves up
        assert_eq!(rate.show(&Currency::default()), "$0.06");
        assert_eq!(Rate::parse("0.055").unwrap().show(&Currency::default()), "$0.055");
    }

    #[test]
    fn amounts_print_with_their_currency() {
        let usd = Currency::default();
        assert_eq!(Money(3600).show(&usd), "$36.00");
        assert_eq!(Money(-150).show(&usd), "-$1.50");
        assert_eq!(Money(1950).show_signed(&usd), "+$19.50");
        assert_eq!(Money(0).show_signed(&usd), "$0.00");
        assert_eq!(Money(5).show(&Currency::parse("CHF").unwrap()), "CHF 0.05");
        assert_eq!(Money(-5).decimal(), "-0.05");
        assert!(Currency::parse("usd").is_err());
    }
}
