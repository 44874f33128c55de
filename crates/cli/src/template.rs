//! Docker's `--format` Go templates, the part scripts use, over the JSON a command prints with
//! `--format json`: `{{.Field.Sub}}`, `{{json .Field}}`, `{{index .Field "key"}}`,
//! `{{join .Field ", "}}`, `{{len .Field}}`, `{{upper .Field}}`, `{{lower .Field}}`. A field name
//! matches a JSON key as it is, else ignoring case and underscores, so Docker's spellings of the
//! fields Skiff has work (`.State`, `.StartedAt`). `table` at the start prints a header row and
//! aligns the columns; `\t` and `\n` are a tab and a newline, as in Docker.

use serde_json::Value;

use crate::errors::user_error;

#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
    table: bool,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Action { func: Option<Func>, args: Vec<Arg> },
}

#[derive(Clone, Copy, Debug)]
enum Func {
    Json,
    Index,
    Join,
    Len,
    Upper,
    Lower,
}

#[derive(Debug)]
enum Arg {
    Path(Vec<String>),
    Text(String),
}

impl Template {
    /// Whether `format` is a template rather than one of a command's named formats.
    pub fn is_template(format: &str) -> bool {
        format.contains("{{")
    }

    pub fn parse(format: &str) -> anyhow::Result<Template> {
        let format = format.replace("\\t", "\t").replace("\\n", "\n");
        let (table, mut rest) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start_matches(' ')),
            None => (false, format.as_str()),
        };
        let mut parts = Vec::new();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| bad(&format, "a `{{` has no `}}`"))?;
            parts.push(action(&format, after[..end].trim())?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts, table })
    }

    /// Each value rendered, one per line; with `table`, a header first and aligned columns.
    pub fn render_all(&self, values: &[Value]) -> anyhow::Result<String> {
        let rows = values
            .iter()
            .map(|v| self.render(v))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !self.table {
            return Ok(rows.iter().map(|r| format!("{r}\n")).collect());
        }
        let header: Vec<String> = self.header().split('\t').map(String::from).collect();
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.split('\t').map(String::from).collect())
            .collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        Ok(crate::display::table(&header, &cells))
    }

    pub fn render(&self, value: &Value) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action { func, args } => out.push_str(&apply(*func, args, value)?),
            }
        }
        Ok(out)
    }

    /// Docker's header: each field's name in capitals.
    fn header(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action { args, .. } => {
                    let name = args.iter().find_map(|a| match a {
                        Arg::Path(path) => Some(path.last().map_or("", String::as_str)),
                        Arg::Text(_) => None,
                    });
                    out.push_str(&name.unwrap_or("").to_uppercase());
                }
            }
        }
        out
    }
}

/// Clap's parser of a `--format` flag: one of `named`, or a template that parses.
pub fn format_flag(
    named: &'static [&'static str],
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |format| {
        if named.contains(&format) {
            Ok(format.to_string())
        } else if Template::is_template(format) {
            Template::parse(format)
                .map(|_| format.to_string())
                .map_err(|e| format!("{e:#}"))
        } else {
            Err(format!(
                "give {} or a template such as '{{{{.Name}}}}'",
                named
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

fn bad(format: &str, why: &str) -> anyhow::Error {
    user_error(
        format!("invalid `--format` template `{format}`: {why}"),
        "write fields as `{{.Name}}`, or `{{json .Limits}}`, `{{index .Labels \"key\"}}`, \
         `{{join .Args \" \"}}`, `{{len .Exits}}`; `--format json` shows every field",
    )
}

fn action(format: &str, text: &str) -> anyhow::Result<Part> {
    let words = split_words(text).ok_or_else(|| bad(format, "a quote is not closed"))?;
    let Some(first) = words.first() else {
        return Err(bad(format, "`{{}}` names nothing"));
    };
    let arg = |word: &String| -> anyhow::Result<Arg> {
        if let Some(text) = word.strip_prefix('"') {
            return Ok(Arg::Text(text.to_string()));
        }
        match word.strip_prefix('.') {
            Some("") => Ok(Arg::Path(Vec::new())),
            Some(path) => Ok(Arg::Path(path.split('.').map(String::from).collect())),
            None => Err(bad(
                format,
                &format!("`{word}` is not a field (`.Name`) or a \"string\""),
            )),
        }
    };
    if first.starts_with('.') {
        if words.len() > 1 {
            return Err(bad(format, &format!("`{text}`: one field per `{{{{ }}}}`")));
        }
        return Ok(Part::Action {
            func: None,
            args: vec![arg(first)?],
        });
    }
    let (func, arity) = match first.as_str() {
        "json" => (Func::Json, 1),
        "index" => (Func::Index, 2),
        "join" => (Func::Join, 2),
        "len" => (Func::Len, 1),
        "upper" => (Func::Upper, 1),
        "lower" => (Func::Lower, 1),
        other => {
            return Err(bad(
                format,
                &format!(
                    "`{other}` is neither a field (those start with a dot: `.{other}`) nor a \
                     function Skiff knows (json, index, join, len, upper, lower)"
                ),
            ));
        }
    };
    if words.len() != arity + 1 {
        return Err(bad(format, &format!("`{first}` takes {arity} argument(s)")));
    }
    Ok(Part::Action {
        func: Some(func),
        args: words[1..].iter().map(arg).collect::<anyhow::Result<_>>()?,
    })
}

/// Words split on spaces; a double-quoted string (with `\"` inside) is one word, kept with its
/// opening quote to tell it from a field. `None` if a quote is not closed.
fn split_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::from('"');
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => word.push(chars.next()?),
                    c => word.push(c),
                }
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Some(words)
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let normal = |key: &str| key.replace('_', "").to_lowercase();
    path.iter().try_fold(value, |value, field| {
        let object = value.as_object()?;
        object.get(field).or_else(|| {
            let wanted = normal(field);
            object
                .iter()
                .find(|(key, _)| normal(key) == wanted)
                .map(|(_, v)| v)
        })
    })
}

fn apply(func: Option<Func>, args: &[Arg], root: &Value) -> anyhow::Result<String> {
    let value = |arg: &Arg| -> Value {
        match arg {
            Arg::Path(path) => lookup(root, path).cloned().unwrap_or(Value::Null),
            Arg::Text(text) => Value::String(text.clone()),
        }
    };
    let text = |arg: &Arg| match value(arg) {
        Value::String(s) => s,
        other => go_text(&other),
    };
    Ok(match func {
        None => go_text(&value(&args[0])),
        Some(Func::Json) => serde_json::to_string(&value(&args[0]))?,
        Some(Func::Index) => {
            let (container, key) = (value(&args[0]), text(&args[1]));
            let found = match &container {
                Value::Object(map) => map.get(&key).cloned(),
                Value::Array(items) => key
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i).cloned()),
                _ => None,
            };
            go_text(&found.unwrap_or(Value::Null))
        }
        Some(Func::Join) => match value(&args[0]) {
            Value::Array(items) => items
                .iter()
                .map(go_text)
                .collect::<Vec<_>>()
                .join(&text(&args[1])),
            other => go_text(&other),
        },
        Some(Func::Len) => match value(&args[0]) {
            Value::Array(items) => items.len().to_string(),
            Value::Object(map) => map.len().to_string(),
            Value::String(s) => s.len().to_string(),
            _ => "0".to_string(),
        },
        Some(Func::Upper) => text(&args[0]).to_uppercase(),
        Some(Func::Lower) => text(&args[0]).to_lowercase(),
    })
}

/// A value as Go's template prints it: text as is, `<no value>` for nothing, `[a b]` for a
/// list and `map[k:v]` for an object.
fn go_text(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect();
            format!("map[{}]", fields.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: &str, value: &Value) -> String {
        Template::parse(format).unwrap().render(value).unwrap()
    }

    #[test]
    fn fields_functions_and_docker_spellings() {
        let app = serde_json::json!({
            "name": "web",
            "state": "serving",
            "started_at": "2026-12-04T06:00:00Z",
            "args": ["a", "b"],
            "labels": {"team": "pay"},
            "limits": {"memory": 1024, "timeout": null},
        });
        assert_eq!(render("{{.Name}} is {{.State}}", &app), "web is serving");
        assert_eq!(render("{{.StartedAt}}", &app), "2026-12-04T06:00:00Z");
        assert_eq!(render("{{.limits.memory}}", &app), "1024");
        assert_eq!(
            render("{{.Limits.Timeout}}|{{.Nope}}", &app),
            "<no value>|<no value>"
        );
        assert_eq!(
            render("{{json .Limits}}", &app),
            r#"{"memory":1024,"timeout":null}"#
        );
        assert_eq!(render(r#"{{index .Labels "team"}}"#, &app), "pay");
        assert_eq!(render(r#"{{join .Args ", "}}"#, &app), "a, b");
        assert_eq!(render("{{len .Args}} {{upper .Name}}", &app), "2 WEB");
        assert_eq!(render("{{.Args}} {{.Labels}}", &app), "[a b] map[team:pay]");
        assert_eq!(render(r"{{.Name}}\t{{.State}}", &app), "web\tserving");
    }

    #[test]
    fn table_has_a_header_and_columns() {
        let rows = [
            serde_json::json!({"name": "web", "state": "serving"}),
            serde_json::json!({"name": "worker-1", "state": "running"}),
        ];
        let out = Template::parse(r"table {{.Name}}\t{{.State}}")
            .unwrap()
            .render_all(&rows)
            .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("NAME") && lines[0].contains("STATE"),
            "{out}"
        );
        assert!(
            lines[1].starts_with("web") && lines[1].contains("serving"),
            "{out}"
        );
        assert_eq!(lines.len(), 3, "{out}");
    }

    #[test]
    fn mistakes_are_named() {
        for (format, why) in [
            ("{{.Name", "has no `}}`"),
            ("{{printf \"%s\" .Name}}", "`printf` is neither a field"),
            ("{{index .Labels}}", "`index` takes 2"),
            ("{{Name}}", "(those start with a dot: `.Name`)"),
            ("{{.Name .State}}", "one field per"),
        ] {
            let error = Template::parse(format).unwrap_err().to_string();
            assert!(error.contains(why), "{format}: {error}");
        }
    }
}
