//! The version 1 schema as it appears in the file, and its validation into [`AppConfig`].
//!
//! The raw structs keep every value's span, so a semantic error can point at its line and column;
//! they are private, and nothing outside this module sees an unvalidated value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use skiff_capabilities::{ByteSize, Endpoint, Limits, NetworkPolicy, parse_duration};
use toml::Spanned;

use crate::config::{AppConfig, AppKind, Build, FileSpec};
use crate::error::{Location, ManifestError};

/// Read first and on its own, with other fields ignored, so a manifest of another version is
/// reported as such rather than as a list of unknown fields.
#[derive(Deserialize)]
struct VersionProbe {
    manifest_version: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    /// Already checked by [`VersionProbe`]; named here so it is not an unknown field.
    #[serde(rename = "manifest_version")]
    _manifest_version: IgnoredAny,
    app: Option<Spanned<RawApp>>,
    build: Option<Spanned<RawBuild>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<RawFile>>,
    #[serde(default)]
    grants: RawGrants,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    description: Option<String>,
    kind: Option<Spanned<String>>,
    #[serde(default)]
    args: Vec<String>,
    workdir: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    wasm: Option<Spanned<String>>,
    command: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    source: Option<Spanned<String>>,
    destination: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    volumes: Vec<Spanned<String>>,
    #[serde(default)]
    network: Vec<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: Option<Spanned<String>>,
    cpu_time: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

/// Parses and validates `text`; errors are located in `path`.
pub(crate) fn parse(text: &str, path: &Path) -> Result<(Build, AppConfig), ManifestError> {
    let cx = Cx { text, path };
    let probe: VersionProbe = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
    let Some(version) = probe.manifest_version else {
        return Err(ManifestError::Missing {
            at: cx.at(0),
            key: "manifest_version",
        });
    };
    match version.get_ref() {
        toml::Value::Integer(1) => {}
        other => {
            return Err(ManifestError::UnsupportedVersion {
                at: cx.at(version.span().start),
                found: match other {
                    toml::Value::Integer(v) => v.to_string(),
                    toml::Value::String(s) => format!("{s:?}"),
                    other => other.type_str().to_string(),
                },
            });
        }
    }
    let raw: RawManifest = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
    cx.resolve(raw)
}

/// The text being parsed and its name, to turn spans into [`Location`]s.
struct Cx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Cx<'_> {
    fn at(&self, offset: usize) -> Location {
        Location::at(self.path, self.text, offset)
    }

    fn toml_error(&self, error: &toml::de::Error) -> ManifestError {
        // toml gives a span for every error it raises; the start of the file is a fallback only.
        let at = self.at(error.span().map_or(0, |s| s.start));
        let message = error.message().trim_end().to_string();
        match parse_unknown_field(&message) {
            Some((field, allowed)) => ManifestError::UnknownField { at, field, allowed },
            None => ManifestError::Toml { at, message },
        }
    }

    fn resolve(&self, raw: RawManifest) -> Result<(Build, AppConfig), ManifestError> {
        let missing = |offset, key| ManifestError::Missing {
            at: self.at(offset),
            key,
        };

        let app_span = raw.app.as_ref().map(|a| a.span().start);
        let app = raw.app.ok_or_else(|| missing(0, "[app]"))?.into_inner();
        let app_start = app_span.unwrap_or(0);
        let name = app.name.ok_or_else(|| missing(app_start, "app.name"))?;
        check_name(name.get_ref()).map_err(|reason| ManifestError::InvalidName {
            at: self.at(name.span().start),
            name: name.get_ref().clone(),
            reason,
        })?;
        let version = app
            .version
            .ok_or_else(|| missing(app_start, "app.version"))?;
        check_version(version.get_ref()).map_err(|reason| ManifestError::InvalidVersion {
            at: self.at(version.span().start),
            version: version.get_ref().clone(),
            reason,
        })?;
        let kind = match &app.kind {
            None => AppKind::default(),
            Some(kind) => AppKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind.get_ref())
                .ok_or_else(|| ManifestError::InvalidKind {
                    at: self.at(kind.span().start),
                    kind: kind.get_ref().clone(),
                })?,
        };

        let build_start = raw.build.as_ref().map_or(0, |b| b.span().start);
        let raw_build = raw.build.ok_or_else(|| missing(0, "[build]"))?.into_inner();
        let wasm = raw_build
            .wasm
            .ok_or_else(|| missing(build_start, "build.wasm"))?;
        let build = Build {
            wasm: self.relative_path(&wasm, "build.wasm", true)?,
            command: raw_build.command,
        };

        let mut env = BTreeMap::new();
        for (name, value) in raw.env {
            let invalid = |span: std::ops::Range<usize>, reason| ManifestError::InvalidEnv {
                at: self.at(span.start),
                name: name.get_ref().clone(),
                reason,
            };
            check_env_name(name.get_ref()).map_err(|reason| invalid(name.span(), reason))?;
            if value.get_ref().contains('\0') {
                return Err(invalid(value.span(), "the value contains a NUL character"));
            }
            env.insert(name.into_inner(), value.into_inner());
        }

        // Guest paths taken so far, with the line that took them.
        let mut guest_paths: Vec<(String, usize)> = Vec::new();
        let mut claim = |path: &str, at: Location| match guest_paths.iter().find(|(p, _)| p == path)
        {
            Some((_, first_line)) => Err(ManifestError::DuplicateGuestPath {
                at,
                path: path.to_string(),
                first_line: *first_line,
            }),
            None => {
                guest_paths.push((path.to_string(), at.line));
                Ok(())
            }
        };

        let mut files = Vec::with_capacity(raw.files.len());
        for file in raw.files {
            let start = file.span().start;
            let file = file.into_inner();
            let source = file.source.ok_or_else(|| missing(start, "files.source"))?;
            let destination = file
                .destination
                .ok_or_else(|| missing(start, "files.destination"))?;
            let source = self.relative_path(&source, "files.source", false)?;
            let destination_str = self.guest_path(&destination, "files.destination")?;
            claim(&destination_str, self.at(destination.span().start))?;
            files.push(FileSpec {
                source,
                destination: destination_str,
            });
        }

        let mut volumes = Vec::with_capacity(raw.grants.volumes.len());
        for volume in &raw.grants.volumes {
            let path = self.guest_path(volume, "grants.volumes")?;
            claim(&path, self.at(volume.span().start))?;
            volumes.push(path);
        }

        // Where the app starts: somewhere it can see, so in a files destination or a volume.
        let workdir = match &app.workdir {
            None => None,
            Some(value) => {
                let path = self.guest_path(value, "app.workdir")?;
                let inside = |dir: &String| Path::new(&path).starts_with(dir);
                if !files.iter().map(|f| &f.destination).any(inside) && !volumes.iter().any(inside)
                {
                    return Err(ManifestError::WorkdirNotInside {
                        at: self.at(value.span().start),
                        path,
                    });
                }
                Some(path)
            }
        };

        let mut endpoints: Vec<Endpoint> = Vec::new();
        for entry in &raw.grants.network {
            let endpoint = parse_network_entry(entry.get_ref()).map_err(|reason| {
                ManifestError::InvalidNetwork {
                    at: self.at(entry.span().start),
                    entry: entry.get_ref().clone(),
                    reason,
                }
            })?;
            // `api.example.com:443` and `https://api.example.com` are one grant.
            if !endpoints.contains(&endpoint) {
                endpoints.push(endpoint);
            }
        }
        let network = if endpoints.is_empty() {
            NetworkPolicy::None
        } else {
            NetworkPolicy::Allow(endpoints)
        };

        let limit_error = |value: &Spanned<String>, field, error| ManifestError::InvalidLimit {
            at: self.at(value.span().start),
            field,
            error,
        };
        let limits = Limits {
            memory: raw
                .limits
                .memory
                .map(|m| {
                    m.get_ref()
                        .parse::<ByteSize>()
                        .map_err(|e| limit_error(&m, "memory", e))
                })
                .transpose()?,
            cpu_time: raw
                .limits
                .cpu_time
                .map(|d| parse_duration(d.get_ref()).map_err(|e| limit_error(&d, "cpu_time", e)))
                .transpose()?,
            timeout: raw
                .limits
                .timeout
                .map(|d| parse_duration(d.get_ref()).map_err(|e| limit_error(&d, "timeout", e)))
                .transpose()?,
            // A CPU share is the operator's to give (`--cpus`), not the image's.
            cpus: None,
        };

        let config = AppConfig {
            name: name.into_inner(),
            version: version.into_inner(),
            description: app.description,
            kind,
            args: app.args,
            env,
            files,
            volumes,
            workdir,
            network,
            limits,
        };
        Ok((build, config))
    }

    /// A path in the source tree, relative to the manifest's directory and normalised.
    /// `may_leave` allows leading `..` (for `build.wasm`: the Wasm file is read, not packaged
    /// as a tree, and often lives in a workspace `target` directory above the app).
    fn relative_path(
        &self,
        value: &Spanned<String>,
        field: &'static str,
        may_leave: bool,
    ) -> Result<PathBuf, ManifestError> {
        normalize_relative(value.get_ref(), may_leave).map_err(|reason| {
            ManifestError::InvalidPath {
                at: self.at(value.span().start),
                field,
                path: value.get_ref().clone(),
                reason,
            }
        })
    }

    fn guest_path(
        &self,
        value: &Spanned<String>,
        field: &'static str,
    ) -> Result<String, ManifestError> {
        normalize_guest(value.get_ref()).map_err(|reason| ManifestError::InvalidPath {
            at: self.at(value.span().start),
            field,
            path: value.get_ref().clone(),
            reason,
        })
    }
}

/// Recognises serde's `unknown field `x`, expected one of `a`, `b`` (or `expected `a``,
/// `expected `a` or `b``, `there are no fields`), returning the field and the allowed ones.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    if let Some(field) = rest.strip_suffix("`, there are no fields") {
        return Some((field.to_string(), Vec::new()));
    }
    let (field, expected) = rest.rsplit_once("`, expected ")?;
    // The allowed names are the odd-numbered pieces between backticks.
    let allowed = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), allowed))
}

/// OCI repository path component rules (distribution-spec): `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`,
/// so the name can be the image's repository as is.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > 128 {
        return Err("longer than 128 characters");
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let separator = |c: char| matches!(c, '.' | '_' | '-');
    if let Some(c) = name.chars().find(|c| !alnum(*c) && !separator(*c)) {
        return Err(if c.is_ascii_uppercase() {
            "uppercase letters are not allowed"
        } else {
            "only lowercase letters, digits, `.`, `_` and `-` are allowed"
        });
    }
    if !name.starts_with(alnum) || !name.ends_with(alnum) {
        return Err("it must start and end with a letter or digit");
    }
    for run in name.split(alnum).filter(|s| !s.is_empty()) {
        let dashes = run.chars().all(|c| c == '-');
        if !(dashes || run == "." || run == "_" || run == "__") {
            return Err("separators must be a single `.`, one or two `_`, or dashes");
        }
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), &'static str> {
    if version.is_empty() {
        return Err("the version is empty");
    }
    if version.chars().any(char::is_whitespace) {
        return Err("it must not contain whitespace");
    }
    Ok(())
}

fn check_env_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.contains('=') {
        return Err("the name must not contain `=`");
    }
    if name.contains('\0') {
        return Err("the name contains a NUL character");
    }
    Ok(())
}

fn normalize_relative(path: &str, may_leave: bool) -> Result<PathBuf, &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.starts_with('/') {
        return Err("it must be relative to the manifest's directory, not absolute");
    }
    if path.contains('\\') {
        return Err("use `/` as the separator");
    }
    if path.contains('\0') {
        return Err("the path contains a NUL character");
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        match part {
            ".." if !may_leave => return Err("it must not leave the manifest's directory (`..`)"),
            // `a/../b` is `b`; leading `..` stay.
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Ok(PathBuf::from("."));
    }
    Ok(PathBuf::from(parts.join("/")))
}

/// An absolute guest path, without `.`, empty components or a trailing `/` (as
/// `skiff_capabilities::DirGrant` normalises `-v` guest paths).
fn normalize_guest(path: &str) -> Result<String, &'static str> {
    if !path.starts_with('/') {
        return Err("it must be an absolute guest path");
    }
    if path.contains('\0') {
        return Err("the path contains a NUL character");
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("it must not contain `..`");
    }
    Ok(format!("/{}", parts.join("/")))
}

/// One `grants.network` entry, parsed as `--network allow=` parses it.
fn parse_network_entry(entry: &str) -> Result<Endpoint, String> {
    Endpoint::parse_grant(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(entry: &str) -> (String, u16) {
        let e = parse_network_entry(entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
        (e.host, e.port)
    }

    #[test]
    fn network_host_port() {
        assert_eq!(
            endpoint("api.example.com:443"),
            ("api.example.com".into(), 443)
        );
        assert_eq!(endpoint("10.0.0.1:8080"), ("10.0.0.1".into(), 8080));
        assert_eq!(endpoint("[::1]:53"), ("::1".into(), 53));
        assert_eq!(endpoint("API.Example.com:1"), ("api.example.com".into(), 1));
    }

    #[test]
    fn network_url_forms_default_the_port_by_scheme() {
        assert_eq!(
            endpoint("https://api.example.com"),
            ("api.example.com".into(), 443)
        );
        assert_eq!(
            endpoint("https://api.example.com/"),
            ("api.example.com".into(), 443)
        );
        assert_eq!(
            endpoint("http://api.example.com"),
            ("api.example.com".into(), 80)
        );
        assert_eq!(
            endpoint("HTTPS://api.example.com"),
            ("api.example.com".into(), 443)
        );
        assert_eq!(endpoint("http://10.0.0.1:8080"), ("10.0.0.1".into(), 8080));
        assert_eq!(
            endpoint("https://example.com:8443"),
            ("example.com".into(), 8443)
        );
        assert_eq!(endpoint("https://[::1]"), ("::1".into(), 443));
        assert_eq!(
            endpoint("http://[2001:db8::1]:8080"),
            ("2001:db8::1".into(), 8080)
        );
    }

    #[test]
    fn network_rejects() {
        for (entry, reason) in [
            ("", "empty"),
            ("api.example.com", "has no port"),
            ("ftp://files.example.com", "unsupported scheme `ftp`"),
            ("https://api.example.com/v1", "paths"),
            ("https://example.com?q=1", "paths"),
            ("https://user@example.com", "user information"),
            ("*.example.com:443", "wildcards"),
            ("https://*.example.com", "wildcards"),
            ("https://example.com:0", "not a port number"),
            ("http://example.com:99999", "not a port number"),
            ("https://", "no valid host"),
            ("::1:80", "IPv6"),
        ] {
            let error = parse_network_entry(entry).expect_err(entry);
            assert!(error.contains(reason), "{entry}: {error}");
        }
    }

    #[test]
    fn names_follow_oci_repository_rules() {
        for good in ["hello", "a", "hello-world", "a--b", "a__b", "a.b_c-d", "v2"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "Hello",
            "hello world",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a._b",
            &long,
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths() {
        assert_eq!(normalize_relative("./static/", false), Ok("static".into()));
        assert_eq!(normalize_relative("a//b/./c", false), Ok("a/b/c".into()));
        assert_eq!(normalize_relative(".", false), Ok(".".into()));
        assert!(normalize_relative("../x", false).is_err());
        assert!(normalize_relative("a/../../x", false).is_err());
        assert!(normalize_relative("/etc", false).is_err());
        assert!(normalize_relative("a\\b", false).is_err());
        assert_eq!(
            normalize_relative("../../target/x.wasm", true),
            Ok("../../target/x.wasm".into())
        );
        assert_eq!(normalize_relative("a/../b.wasm", true), Ok("b.wasm".into()));
    }

    #[test]
    fn guest_paths() {
        assert_eq!(normalize_guest("/static/"), Ok("/static".into()));
        assert_eq!(normalize_guest("//a/./b"), Ok("/a/b".into()));
        assert_eq!(normalize_guest("/"), Ok("/".into()));
        assert!(normalize_guest("static").is_err());
        assert!(normalize_guest("/a/../etc").is_err());
    }

    #[test]
    fn unknown_field_messages() {
        assert_eq!(
            parse_unknown_field("unknown field `x`, expected one of `a`, `b`, `c`"),
            Some(("x".into(), vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(
            parse_unknown_field("unknown field `x`, expected `a` or `b`"),
            Some(("x".into(), vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse_unknown_field("unknown field `x`, there are no fields"),
            Some(("x".into(), vec![]))
        );
        assert_eq!(parse_unknown_field("invalid type: integer `3`"), None);
    }
}
