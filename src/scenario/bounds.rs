//! Range-checked deserializers: a bad value fails inside serde, so the TOML error carries
//! the value's exact position.

use serde::{de::Error, Deserialize, Deserializer};

pub fn in_range<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(d: D) -> Result<u64, D::Error> {
    let v = i64::deserialize(d)?;
    if v < 0 || (v as u64) < MIN || (v as u64) > MAX {
        return Err(D::Error::custom(format!("expected an integer in {MIN}..={MAX}, found {v}")));
    }
    Ok(v as u64)
}

pub fn probability<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(D::Error::custom(format!("expected a probability in 0.0..=1.0, found {v}")));
    }
    Ok(v)
}

pub fn drift_bound<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(0.0..0.5).contains(&v) {
        return Err(D::Error::custom(format!("expected a drift bound in 0.0..0.5, found {v}")));
    }
    Ok(v)
}

/// [`in_range`] for an optional key (`Some` when the key is present).
pub fn some_in_range<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(d: D) -> Result<Option<u64>, D::Error> {
    in_range::<D, MIN, MAX>(d).map(Some)
}

/// Stalls per second: 0 (none) to 100.
pub fn stall_rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(0.0..=100.0).contains(&v) {
        return Err(D::Error::custom(format!("expected a rate in 0.0..=100.0 per second, found {v}")));
    }
    Ok(v)
}
