//! `faultline serve --config FILE`: a node's flags from a TOML file, so that a deployment
//! keeps one file per process. Top-level keys are the flags before the role (`name`,
//! `history`, `metrics`, `scenario`, `link_fault`, ...), a table named after the role
//! (`[coordinator]`, `[executor]`, `[sink]`) holds the role's flags; a key is the flag's
//! long name (`_` or `-`). A flag given on the command line wins over the file. Arrays are
//! comma-joined (`coordinators`, `etcd`), except the repeatable `link_fault`.
//!
//! ```toml
//! name = "coord-1"
//! history = "/var/lib/faultline/coord-1.jsonl"
//! metrics = "0.0.0.0:9101"
//! [coordinator]
//! listen = "0.0.0.0:7101"
//! etcd = ["etcd-1:2379", "etcd-2:2379", "etcd-3:2379"]
//! ```

use std::path::Path;

const ROLES: [&str; 3] = ["coordinator", "executor", "sink"];
/// Flags given once per value (the others take a comma-joined list).
const REPEATABLE: [&str; 1] = ["link-fault"];

/// The command line with the config file's flags put in, or what is wrong with the file.
/// Anything but `serve ... --config FILE ...` comes back unchanged.
pub fn expand(mut args: Vec<String>) -> Result<Vec<String>, String> {
    if args.get(1).map(String::as_str) != Some("serve") {
        return Ok(args);
    }
    let Some(at) = args.iter().position(|a| a == "--config" || a.starts_with("--config=")) else {
        return Ok(args);
    };
    let path = match args[at].strip_prefix("--config=") {
        Some(path) => path.to_string(),
        None if at + 1 < args.len() => args.remove(at + 1),
        None => return Err("--config needs a file".into()),
    };
    args.remove(at);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: cannot read the config: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| located(Path::new(&path), &text, &e))?;
    let role_at = args
        .iter()
        .position(|a| ROLES.contains(&a.as_str()))
        .ok_or("give the role after the flags: serve [FLAGS] coordinator|executor|sink")?;
    let role = args[role_at].clone();
    let mut common = Vec::new();
    let mut own = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(section) if key == &role => {
                for (key, value) in section {
                    own.extend(flag(&path, key, value, &args[role_at + 1..])?);
                }
            }
            toml::Value::Table(_) if ROLES.contains(&key.as_str()) => {} // another role's section
            toml::Value::Table(_) => {
                return Err(format!("{path}: unknown section [{key}] (expected coordinator, executor or sink)"));
            }
            _ => common.extend(flag(&path, key, value, &args[2..role_at])?),
        }
    }
    let tail = args.split_off(role_at + 1);
    args.truncate(role_at);
    args.extend(common);
    args.push(role);
    args.extend(own);
    args.extend(tail);
    Ok(args)
}

/// `--key value` (or nothing, when the command line already has `--key`).
fn flag(path: &str, key: &str, value: &toml::Value, given: &[String]) -> Result<Vec<String>, String> {
    let name = key.replace('_', "-");
    let long = format!("--{name}");
    if given.iter().any(|a| a == &long || a.starts_with(&format!("{long}="))) {
        return Ok(Vec::new());
    }
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        _ => Err(format!("{path}: `{key}`: expected a string, a number, true/false or a list of them")),
    };
    Ok(match value {
        toml::Value::Boolean(true) => vec![long],
        toml::Value::Boolean(false) => Vec::new(),
        toml::Value::Array(items) if REPEATABLE.contains(&name.as_str()) => items
            .iter()
            .map(scalar)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flat_map(|v| [long.clone(), v])
            .collect(),
        toml::Value::Array(items) => vec![long, items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?.join(",")],
        other => vec![long, scalar(other)?],
    })
}

/// A TOML error as `FILE:LINE:COL: message`.
fn located(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let offset = e.span().map_or(0, |s| s.start);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{col}: {}", path.display(), e.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_config(text: &str, args: &[&str]) -> Result<Vec<String>, String> {
        let path = std::env::temp_dir().join(format!("faultline-config-{}-{}.toml", std::process::id(), args.len()));
        std::fs::write(&path, text).unwrap();
        let mut argv: Vec<String> =
            ["faultline", "serve", "--config", path.to_str().unwrap()].map(String::from).to_vec();
        argv.extend(args.iter().map(|a| a.to_string()));
        let out = expand(argv).map(|a| a[1..].to_vec());
        let _ = std::fs::remove_file(&path);
        out.map_err(|e| e.replace(path.to_str().unwrap(), "FILE"))
    }

    #[test]
    fn the_file_gives_the_flags_and_the_command_line_wins() {
        let text = "name = \"coord-1\"\nmetrics = \"127.0.0.1:9101\"\nlink_fault = [\"peer=sink,drop_response=0.1\", \"duplicate=0.1\"]\n\
                    [coordinator]\nlisten = \"0.0.0.0:7101\"\netcd = [\"e1:2379\", \"e2:2379\"]\n[executor]\nzone = \"z9\"\n";
        let got = with_config(text, &["--name", "coord-7", "coordinator", "--etcd", "e3:2379"]).unwrap();
        let want = [
            "serve",
            "--name",
            "coord-7",
            "--metrics",
            "127.0.0.1:9101",
            "--link-fault",
            "peer=sink,drop_response=0.1",
            "--link-fault",
            "duplicate=0.1",
            "coordinator",
            "--listen",
            "0.0.0.0:7101",
            "--etcd",
            "e3:2379",
        ];
        let mut got_sorted = got.clone();
        got_sorted[1..9].sort();
        let mut want_sorted: Vec<String> = want.map(String::from).to_vec();
        want_sorted[1..9].sort();
        assert_eq!(got_sorted, want_sorted, "{got:?}");
    }

    #[test]
    fn a_bad_file_says_where() {
        assert_eq!(with_config("name = \n", &["sink"]).unwrap_err().split(": ").next(), Some("FILE:1:8"));
        let err = with_config("[sinks]\nlisten = \"x\"\n", &["sink"]).unwrap_err();
        assert_eq!(err, "FILE: unknown section [sinks] (expected coordinator, executor or sink)");
        assert!(with_config("name = \"x\"\n", &["--name"]).unwrap_err().contains("give the role"));
        assert_eq!(expand(vec!["faultline".into(), "check".into()]).unwrap(), vec!["faultline", "check"]);
    }
}
