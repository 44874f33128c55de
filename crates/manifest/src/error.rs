//! Manifest errors: each names the `path:line:column` of the offending value and has a hint.

use std::fmt;
use std::path::PathBuf;

use skiff_capabilities::ParseLimitError;

/// Where in a manifest an error is: `skiff.toml:LINE:COLUMN`, both 1-based, the column counted in
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text`. An offset past the end points at the end.
    pub(crate) fn at(path: &std::path::Path, text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            path: path.to_path_buf(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// Why a manifest could not be read. [`ManifestError::hint`] says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no manifest at `{}`", path.display())]
    NotFound { path: PathBuf },

    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A TOML syntax error, or a value of the wrong type (the message is the TOML parser's).
    #[error("{at}: {message}")]
    Toml { at: Location, message: String },

    #[error("{at}: unknown field `{field}`")]
    UnknownField {
        at: Location,
        field: String,
        /// The fields allowed in that table.
        allowed: Vec<String>,
    },

    /// A required field or table is absent; `key` is spelled as in the file (`app.name`,
    /// `[build]`), and `at` is the table it belongs in.
    #[error("{at}: missing `{key}`")]
    Missing { at: Location, key: &'static str },

    #[error(
        "{at}: unsupported manifest version `{found}`; supported versions: {}",
        supported()
    )]
    UnsupportedVersion { at: Location, found: String },

    #[error("{at}: invalid app name `{name}`: {reason}")]
    InvalidName {
        at: Location,
        name: String,
        reason: &'static str,
    },

    #[error("{at}: invalid app version `{version}`: {reason}")]
    InvalidVersion {
        at: Location,
        version: String,
        reason: &'static str,
    },

    #[error("{at}: unknown app kind `{kind}`")]
    InvalidKind { at: Location, kind: String },

    #[error("{at}: invalid environment variable `{name}`: {reason}")]
    InvalidEnv {
        at: Location,
        name: String,
        reason: &'static str,
    },

    /// A bad path in `build.wasm`, `files.source`, `files.destination` or `grants.volumes`.
    #[error("{at}: invalid `{field}` `{path}`: {reason}")]
    InvalidPath {
        at: Location,
        field: &'static str,
        path: String,
        reason: &'static str,
    },

    /// Two volumes or file destinations at the same guest path.
    #[error("{at}: guest path `{path}` is already used on line {first_line}")]
    DuplicateGuestPath {
        at: Location,
        path: String,
        first_line: usize,
    },

    #[error(
        "{at}: `app.workdir` `{path}` is in no `[[files]]` destination or `grants.volumes` entry"
    )]
    WorkdirNotInside { at: Location, path: String },

    #[error("{at}: invalid network entry `{entry}`: {reason}")]
    InvalidNetwork {
        at: Location,
        entry: String,
        reason: String,
    },

    /// The limit's own message already names the value and the expected form.
    #[error("{at}: {error}")]
    InvalidLimit {
        at: Location,
        field: &'static str,
        error: ParseLimitError,
    },
}

fn supported() -> String {
    let versions: Vec<String> = crate::SUPPORTED_VERSIONS
        .iter()
        .map(|v| format!("`{v}`"))
        .collect();
    versions.join(", ")
}

impl ManifestError {
    /// Where in the manifest the error is, when it is about the manifest's content.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ManifestError::NotFound { .. } | ManifestError::Read { .. } => None,
            ManifestError::Toml { at, .. }
            | ManifestError::UnknownField { at, .. }
            | ManifestError::Missing { at, .. }
            | ManifestError::UnsupportedVersion { at, .. }
            | ManifestError::InvalidName { at, .. }
            | ManifestError::InvalidVersion { at, .. }
            | ManifestError::InvalidKind { at, .. }
            | ManifestError::InvalidEnv { at, .. }
            | ManifestError::InvalidPath { at, .. }
            | ManifestError::DuplicateGuestPath { at, .. }
            | ManifestError::WorkdirNotInside { at, .. }
            | ManifestError::InvalidNetwork { at, .. }
            | ManifestError::InvalidLimit { at, .. } => Some(at),
        }
    }

    /// What the user should do to fix it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            ManifestError::NotFound { path }
                if path
                    .parent()
                    .is_some_and(|dir| dir.join("Dockerfile").is_file()) =>
            {
                "Skiff builds from a skiff.toml, not a Dockerfile (no container runs its steps): \
                 write one beside it, with the `.wasm` the Dockerfile copies as `[build] wasm`, \
                 what its `RUN` builds it with as `[build] command`, its `ENTRYPOINT` arguments \
                 and `CMD` as `[app] args`, its `ENV` as `[env]` (docs/manifest.md; `skiff new` \
                 writes a whole project)"
                    .to_string()
            }
            ManifestError::NotFound { .. } => {
                "create one; see docs/manifest.md for the fields".to_string()
            }
            ManifestError::Read { .. } | ManifestError::Toml { .. } => return None,
            ManifestError::UnknownField { field, allowed, .. } => {
                let list = allowed
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                match (closest(field, allowed), allowed.is_empty()) {
                    (_, true) => "remove it: this table takes no fields".to_string(),
                    (Some(guess), _) => format!("did you mean `{guess}`? allowed here: {list}"),
                    (None, _) => format!("remove it; allowed here: {list}"),
                }
            }
            ManifestError::Missing { key, .. } => missing_hint(key).to_string(),
            ManifestError::UnsupportedVersion { .. } => "set `manifest_version = 1`".to_string(),
            ManifestError::InvalidName { .. } => "use lowercase letters and digits, separated by \
                 `.`, `_` or `-`, like `hello-world` (at most 128 characters)"
                .to_string(),
            ManifestError::InvalidVersion { .. } => {
                "use a version without spaces, like `1.0.0`; it is the image's default tag"
                    .to_string()
            }
            ManifestError::InvalidKind { kind, .. } => {
                let kinds: Vec<String> = crate::AppKind::ALL
                    .iter()
                    .map(|k| k.as_str().to_string())
                    .collect();
                let choices = "`kind` is `command` (the default) or `http`";
                match closest(kind, &kinds) {
                    Some(guess) => format!("did you mean `{guess}`? {choices}"),
                    None => choices.to_string(),
                }
            }
            ManifestError::InvalidEnv { .. } => {
                "environment variable names must be non-empty and contain no `=`; \
                 values must not contain NUL"
                    .to_string()
            }
            ManifestError::InvalidPath { field, .. } => match *field {
                "build.wasm" => "give the Wasm file's path relative to the manifest's directory",
                "files.source" => {
                    "give a path inside the manifest's directory, relative to it, like `static`; \
                     only files under it can be packaged"
                }
                "files.destination" | "app.workdir" => {
                    "give an absolute guest path, like `/static`"
                }
                _ => {
                    "give the absolute guest path the app expects, like `/data`; \
                     the host directory is granted at run time with `-v HOST_DIR:/data`"
                }
            }
            .to_string(),
            ManifestError::DuplicateGuestPath { .. } => {
                "give each volume and file destination its own guest path".to_string()
            }
            ManifestError::WorkdirNotInside { path, .. } => format!(
                "an app sees only its files and volumes: start it in one of them, or add \
                 `volumes = [\"{path}\"]` under `[grants]`"
            ),
            ManifestError::InvalidNetwork { .. } => {
                "write `HOST:PORT`, `https://HOST[:PORT]` (port 443 by default) \
                 or `http://HOST[:PORT]` (port 80 by default)"
                    .to_string()
            }
            ManifestError::InvalidLimit { field, .. } => {
                let flag = field.replace('_', "-");
                format!(
                    "fix `limits.{field}` or remove it for no limit; \
                     `skiff run --{flag}` overrides it"
                )
            }
        };
        Some(hint)
    }
}

fn missing_hint(key: &str) -> &'static str {
    match key {
        "manifest_version" => "add `manifest_version = 1` as the first line",
        "[app]" => "add an `[app]` table with `name` and `version`; see docs/manifest.md",
        "app.name" => "add `name = \"my-app\"` to `[app]`",
        "app.version" => "add `version = \"0.1.0\"` to `[app]`",
        "[build]" => "add a `[build]` table with `wasm = \"path/to/app.wasm\"`",
        "build.wasm" => "add `wasm = \"path/to/app.wasm\"`, relative to the manifest's directory",
        "files.source" => {
            "each `[[files]]` entry needs `source`, a path relative to the manifest's directory"
        }
        "files.destination" => {
            "each `[[files]]` entry needs `destination`, an absolute guest path like `/static`"
        }
        _ => "see docs/manifest.md",
    }
}

/// The candidate nearest to `word` by edit distance, if near enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a = 1\né = \"x\"\n";
        let at = Location::at("skiff.toml".as_ref(), text, text.find('"').unwrap());
        assert_eq!((at.line, at.column), (2, 5));
        assert_eq!(at.to_string(), "skiff.toml:2:5");
        let end = Location::at("m".as_ref(), text, 999);
        assert_eq!((end.line, end.column), (3, 1));
    }

    #[test]
    fn typo_suggestions() {
        let fields: Vec<String> = ["name", "version", "kind"].map(String::from).into();
        assert_eq!(closest("nme", &fields), Some("name"));
        assert_eq!(closest("verison", &fields), Some("version"));
        assert_eq!(closest("colour", &fields), None);
    }
}
