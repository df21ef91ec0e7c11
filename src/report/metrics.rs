//! Metrics derived from a history alone (being written).
