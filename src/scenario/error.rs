//! Scenario errors that point at the file, line and column, and say what was expected.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{col}: {message}", path.display())]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl ScenarioError {
    pub(crate) fn from_toml(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, col) = line_col(text, offset);
        ScenarioError { path: path.to_path_buf(), line, col, message: e.message().trim().to_string() }
    }

    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        ScenarioError { path: path.to_path_buf(), line: 0, col: 0, message: format!("cannot read: {e}") }
    }

    /// An error about a key found after parsing: points at the key's first occurrence.
    pub(crate) fn at_key(path: &Path, text: &str, key: &str, message: &str) -> Self {
        Self::at_offset(path, text, find_key(text, key).unwrap_or(0), message)
    }

    /// An error about a value (a string literal) found after parsing.
    pub(crate) fn at_value(path: &Path, text: &str, value: &str, message: &str) -> Self {
        Self::at_offset(path, text, text.find(&format!("\"{value}\"")).unwrap_or(0), message)
    }

    fn at_offset(path: &Path, text: &str, offset: usize, message: &str) -> Self {
        let (line, col) = line_col(text, offset);
        ScenarioError { path: path.to_path_buf(), line, col, message: message.to_string() }
    }
}

fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(key) && trimmed[key.len()..].trim_start().starts_with('=') {
            return Some(offset + line.len() - trimmed.len());
        }
        offset += line.len();
    }
    None
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, col)
}
