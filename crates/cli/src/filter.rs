//! `--filter KEY=VALUE` of `skiff ps` and `skiff images`, read as Docker reads it: the same key
//! given twice matches either value, different keys must all match.

use skiff_api::{AppInfo, AppState, HealthStatus};

use crate::errors::user_error;

/// One `--filter` as typed: `KEY=VALUE` (clap's value parser).
pub fn parse(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_ascii_lowercase(), value.into())),
        _ => Err(format!(
            "`{spec}` is not a filter; expected KEY=VALUE (e.g. `status=exited`)"
        )),
    }
}

/// A `status=` of `skiff ps --filter`.
#[derive(Debug)]
enum Status {
    In(&'static [AppState]),
    /// Created and never started (`skiff create`).
    Created,
    /// `skiff pause`.
    Paused,
}

/// What `skiff ps --filter` keeps.
#[derive(Debug, Default)]
pub struct Apps {
    names: Vec<String>,
    labels: Vec<Label>,
    states: Vec<Status>,
    health: Vec<Option<HealthStatus>>,
    ancestors: Vec<String>,
    exited: Vec<i32>,
}

const APP_KEYS: &str = "`name`, `label`, `status`, `health`, `ancestor`, `exited`";

impl Apps {
    pub fn new(filters: &[(String, String)]) -> anyhow::Result<Apps> {
        let mut apps = Apps::default();
        for (key, value) in filters {
            match key.as_str() {
                "name" => apps.names.push(value.clone()),
                "label" => apps.labels.push(Label::new(value)),
                "status" => apps.states.push(match value.as_str() {
                    // An HTTP app is up while it serves: `running` is any app that is up.
                    "running" => Status::In(&[AppState::Running, AppState::Serving]),
                    "serving" => Status::In(&[AppState::Serving]),
                    "restarting" => Status::In(&[AppState::Restarting]),
                    "exited" => Status::In(&[AppState::Exited]),
                    "created" => Status::Created,
                    "paused" => Status::Paused,
                    // Docker's other states: no app of Skiff is ever in one.
                    "removing" | "dead" => Status::In(&[]),
                    _ => {
                        return Err(bad_value(
                            key,
                            value,
                            "`running`, `serving`, `restarting`, `exited`, `created` or `paused`",
                        ));
                    }
                }),
                "health" => apps.health.push(match value.as_str() {
                    "starting" => Some(HealthStatus::Starting),
                    "healthy" => Some(HealthStatus::Healthy),
                    "unhealthy" => Some(HealthStatus::Unhealthy),
                    "none" => None,
                    _ => {
                        return Err(bad_value(
                            key,
                            value,
                            "`starting`, `healthy`, `unhealthy` or `none`",
                        ));
                    }
                }),
                "ancestor" => apps.ancestors.push(value.clone()),
                "exited" => apps.exited.push(
                    value
                        .parse()
                        .map_err(|_| bad_value(key, value, "an exit code, such as `0` or `137`"))?,
                ),
                _ => return Err(unknown_key(key, APP_KEYS)),
            }
        }
        Ok(apps)
    }

    /// Whether it looks at apps that are no longer running, as `-a` does (Docker: a filter on
    /// the status or the exit code lists every container).
    pub fn lists_all(&self) -> bool {
        !self.states.is_empty() || !self.exited.is_empty()
    }

    pub fn matches(&self, app: &AppInfo) -> bool {
        any_or_none(&self.names, |name| name_matches(name, &app.name))
            && self.labels.iter().all(|label| label.matches(&app.labels))
            && any_or_none(&self.states, |status| match status {
                // Docker's states are one each: a paused app is not `running`.
                Status::In(states) => {
                    states.contains(&app.state) && !crate::display::is_created(app) && !app.paused
                }
                Status::Created => crate::display::is_created(app),
                Status::Paused => app.paused,
            })
            && any_or_none(&self.health, |wanted| {
                *wanted == app.health.as_ref().map(|h| h.status)
            })
            && any_or_none(&self.ancestors, |image| is_ancestor(image, &app.source))
            && any_or_none(&self.exited, |code| {
                app.state == AppState::Exited && app.exits.last().map(|e| e.code) == Some(*code)
            })
    }
}

/// One `skiff events --filter` (clap's value parser): `app=NAME`, `container=NAME` (Docker's
/// word for it) or `event=KIND`; `type=container` is taken (every event is an app's).
pub fn parse_event(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some(("app" | "container", name)) => Ok(("app".into(), name.into())),
        Some(("event", kind)) => Ok(("event".into(), kind.into())),
        Some(("type", "container")) => Ok(("type".into(), "container".into())),
        _ => Err(format!(
            "`{spec}`: expected `app=NAME`, `container=NAME` or `event=KIND`"
        )),
    }
}

/// What `skiff events --filter` keeps.
#[derive(Debug, Default)]
pub struct Events {
    apps: Vec<String>,
    kinds: Vec<String>,
}

impl Events {
    /// From filters [`parse_event`] read.
    pub fn new(filters: &[(String, String)]) -> Events {
        let mut events = Events::default();
        for (key, value) in filters {
            match key.as_str() {
                "app" => events.apps.push(value.clone()),
                "event" => events.kinds.push(value.clone()),
                _ => {}
            }
        }
        events
    }

    pub fn matches(&self, event: &skiff_api::Event) -> bool {
        any_or_none(&self.apps, |app| *app == event.app)
            && any_or_none(&self.kinds, |kind| *kind == event.kind)
    }
}

/// What `skiff images --filter` keeps.
#[derive(Debug, Default)]
pub struct Images {
    references: Vec<String>,
    dangling: Vec<bool>,
}

impl Images {
    pub fn new(filters: &[(String, String)]) -> anyhow::Result<Images> {
        let mut images = Images::default();
        for (key, value) in filters {
            match key.as_str() {
                "reference" => images.references.push(value.clone()),
                "dangling" => images.dangling.push(match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad_value(key, value, "`true` or `false`")),
                }),
                _ => return Err(unknown_key(key, "`reference`, `dangling`")),
            }
        }
        Ok(images)
    }

    /// Whether the image named `repository:tag` is kept (`tag` is `<none>` for one pulled by
    /// digest). Every image of Skiff's store has a name (data no name refers to is not an image,
    /// and `skiff image prune` removes it), so no image is dangling.
    pub fn matches(&self, repository: &str, tag: &str) -> bool {
        let name = format!("{repository}:{tag}");
        any_or_none(&self.references, |pattern| {
            glob(pattern, &name) || glob(pattern, repository)
        }) && any_or_none(&self.dangling, |dangling| !dangling)
    }
}

fn any_or_none<T>(wanted: &[T], matches: impl Fn(&T) -> bool) -> bool {
    wanted.is_empty() || wanted.iter().any(matches)
}

/// `label=KEY` (the app has the label) or `label=KEY=VALUE` (with that value).
#[derive(Debug)]
struct Label {
    key: String,
    value: Option<String>,
}

impl Label {
    fn new(spec: &str) -> Label {
        match spec.split_once('=') {
            Some((key, value)) => Label {
                key: key.into(),
                value: Some(value.into()),
            },
            None => Label {
                key: spec.into(),
                value: None,
            },
        }
    }

    fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Docker's `name=` is a regular expression found anywhere in the name; what scripts write of it
/// is a part of the name, anchored with `^` and `$` to mean the start and the end.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (start, pattern) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (end, pattern) = match pattern.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    match (start, end) {
        (true, true) => name == pattern,
        (true, false) => name.starts_with(pattern),
        (false, true) => name.ends_with(pattern),
        (false, false) => name.contains(pattern),
    }
}

/// Whether the app runs `image`: its source as given (an image reference, or a file's absolute
/// path), with `:latest` implied, or the file's name.
fn is_ancestor(image: &str, source: &str) -> bool {
    source == image
        || source.strip_suffix(":latest") == Some(image)
        || (source.starts_with('/') && crate::display::image(source) == image)
}

/// Docker's reference patterns: `*` is any run of characters other than `/`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else {
                return false;
            };
            // Where the run may end: before each character up to the first `/`, or at the end.
            let run = text.find('/').unwrap_or(text.len());
            text.char_indices()
                .map(|(i, _)| i)
                .take_while(|&i| i <= run)
                .chain((run == text.len()).then_some(run))
                .any(|i| glob(rest, &text[i..]))
        }
    }
}

fn unknown_key(key: &str, keys: &str) -> anyhow::Error {
    user_error(
        format!("`{key}` is not a filter Skiff knows"),
        format!("filter on {keys}: `--filter KEY=VALUE`"),
    )
}

fn bad_value(key: &str, value: &str, expected: &str) -> anyhow::Error {
    user_error(
        format!("`{key}={value}` is not a filter Skiff knows"),
        format!("`{key}` takes {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::{glob, name_matches};

    #[test]
    fn names_and_references_match_as_in_docker() {
        assert!(name_matches("web", "shop-web-1"));
        assert!(name_matches("^shop", "shop-web-1"));
        assert!(!name_matches("^web", "shop-web-1"));
        assert!(name_matches("^shop-web$", "shop-web"));
        assert!(!name_matches("^shop-web$", "shop-web-1"));
        assert!(name_matches("-1$", "shop-web-1"));
        assert!(glob("team/*", "team/hello"));
        assert!(!glob("team/*", "team/sub/hello"));
        assert!(glob("*/hello:1.*", "team/hello:1.0"));
        assert!(glob("hello", "hello"));
        assert!(!glob("hello", "hello2"));
    }
}
