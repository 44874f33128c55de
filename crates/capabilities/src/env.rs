//! Environment variables, spelled as Docker spells them: `-e KEY=VALUE`, `-e KEY` (copied from the
//! caller's environment) and `--env-file` files of such lines.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("invalid environment variable `{0}`: the name must not be empty or contain `=`")]
    InvalidName(String),
    #[error("{path}:{line}: invalid environment variable `{text}`: expected `KEY=VALUE` or `KEY`")]
    InvalidLine {
        path: String,
        line: usize,
        text: String,
    },
    #[error("failed to read env file `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0') && name.trim() == name
}

/// Parses one `-e` value. `KEY=VALUE` sets it; a bare `KEY` copies the caller's value through
/// `lookup` and is skipped when the caller has none (as `docker run -e KEY` does).
pub fn parse_env_assignment(
    spec: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, EnvError> {
    let (name, value) = match spec.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (spec, None),
    };
    if !valid_name(name) {
        return Err(EnvError::InvalidName(spec.to_string()));
    }
    Ok(value
        .or_else(|| lookup(name))
        .map(|v| (name.to_string(), v)))
}

/// Reads a Docker-style env file: one `KEY=VALUE` or `KEY` per line, `#` starts a comment line,
/// blank lines are ignored, and values are taken literally (no quote removal, as Docker does).
pub fn parse_env_file(
    path: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, EnvError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EnvError::Read {
        path: display.clone(),
        source,
    })?;
    let mut vars = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_env_assignment(line, &lookup) {
            Ok(Some(var)) => vars.push(var),
            Ok(None) => {}
            Err(_) => {
                return Err(EnvError::InvalidLine {
                    path: display,
                    line: index + 1,
                    text: raw.to_string(),
                });
            }
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn assignment_forms() {
        assert_eq!(
            parse_env_assignment("A=b=c", none).unwrap(),
            Some(("A".into(), "b=c".into()))
        );
        assert_eq!(
            parse_env_assignment("A=", none).unwrap(),
            Some(("A".into(), "".into()))
        );
        assert_eq!(parse_env_assignment("A", none).unwrap(), None);
        assert_eq!(
            parse_env_assignment("A", |_| Some("x".into())).unwrap(),
            Some(("A".into(), "x".into()))
        );
        assert!(parse_env_assignment("=x", none).is_err());
    }

    #[test]
    fn env_file() {
        let dir = tempfile_dir();
        let path = dir.join("app.env");
        std::fs::write(&path, "# comment\n\nA=1\nB=\"quoted\"\nHOME_ONLY\n").unwrap();
        let vars = parse_env_file(&path, |k| (k == "HOME_ONLY").then(|| "h".into())).unwrap();
        assert_eq!(
            vars,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"quoted\"".into()),
                ("HOME_ONLY".into(), "h".into())
            ]
        );
        std::fs::write(&path, "A=1\n=bad\n").unwrap();
        let err = parse_env_file(&path, none).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "app.env:2: invalid environment variable `=bad`: expected `KEY=VALUE` or `KEY`"
            ),
            "{err}"
        );
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("skiff-env-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
