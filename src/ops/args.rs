//! How recorded operation arguments (the operation tests' JSON) spell what scripts give as
//! options: modes as octal text, contents as text.

use serde::{Deserialize, Deserializer};

/// `"0644"` → 0o644.
pub fn mode_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| u32::from_str_radix(&t, 8).map_err(serde::de::Error::custom))
        .transpose()
}

pub fn bytes_of_text<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Ok(String::deserialize(d)?.into_bytes())
}

/// `"90s"`, `"1h 30m"`.
pub fn duration_text<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    humantime::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// An optional `"90s"`.
pub fn opt_duration_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}
