//! Scenario errors that point at the file, line and column, and say what was expected.

use std::path::{Path, PathBuf};

/// `line` and `col` are 1-based; 0 when the error is about the whole file (it cannot be
/// read) or a command-line setting, and then not printed.
#[derive(Debug, thiserror::Error)]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.path.display(), self.message),
            _ => write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.col, self.message),
        }
    }
}

impl ScenarioError {
    pub(crate) fn from_toml(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, col) = line_col(text, offset);
        ScenarioError { path: path.to_path_buf(), line, col, message: e.message().trim().to_string() }
    }

    /// An error in a command-line setting (`--set key=value`).
    pub(crate) fn setting(path: &Path, set: &str, message: &str) -> Self {
        ScenarioError { path: path.to_path_buf(), line: 0, col: 0, message: format!("setting `{set}`: {message}") }
    }

    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        ScenarioError { path: path.to_path_buf(), line: 0, col: 0, message: format!("cannot read the scenario: {why}") }
    }

    /// An error about a key found after parsing: points at the key's first occurrence.
    pub(crate) fn at_key(path: &Path, text: &str, key: &str, message: &str) -> Self {
        Self::at_offset(path, text, find_key(text, key).unwrap_or(0), message)
    }

    /// An error about a value found after parsing: points at the first `needle` in the text.
    pub(crate) fn at_text(path: &Path, text: &str, needle: &str, message: &str) -> Self {
        Self::at_offset(path, text, text.find(needle).unwrap_or(0), message)
    }

    /// An error inside the `index`-th `[[faults]]` table: points at `needle` there, tried
    /// as a key, then as a string value, then as any text; else at the table's header.
    pub(crate) fn in_fault(path: &Path, text: &str, index: usize, needle: &str, message: &str) -> Self {
        let (start, end) = table_span(text, "[[faults]]", index).unwrap_or((0, text.len()));
        let section = &text[start..end];
        let found = (!needle.is_empty())
            .then(|| {
                find_key(section, needle)
                    .or_else(|| section.find(&format!("\"{needle}\"")))
                    .or_else(|| section.find(&format!("{needle} =")))
            })
            .flatten();
        Self::at_offset(path, text, start + found.unwrap_or(0), message)
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

/// The byte span of the `index`-th table with this header: from the header to the next
/// table header.
fn table_span(text: &str, header: &str, index: usize) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut seen = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if start.is_some() && trimmed.starts_with('[') {
            return start.map(|s| (s, offset));
        }
        if trimmed.starts_with(header) {
            if seen == index {
                start = Some(offset);
            }
            seen += 1;
        }
        offset += line.len();
    }
    start.map(|s| (s, text.len()))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, col)
}
