//! A subset of Go's text/template, enough for docker's `--format` and
//! `inspect -f`: `{{.Field.Sub}}`, `{{json .X}}`, pipelines (`|`),
//! `if`/`else`/`range`/`end` (with `$k, $v :=`), `{{- -}}` trimming, and
//! docker's functions (json, upper, lower, title, join, split, index, len,
//! println, truncate, pad). Values are JSON: the daemon's documents for
//! inspect, a map of the displayed fields for ps/images.

use serde_json::Value;

/// A template error, worded like Go's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

type Result<T> = std::result::Result<T, TemplateError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(TemplateError(msg.into()))
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Vec<String>, Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Vec<Arg>>);

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty path: `.`).
    Dot(Vec<String>),
    /// `$name.A.B` (`$` alone is the root).
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
    Func(String),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let items = lex(src)?;
        let mut pos = 0;
        let (nodes, end) = parse_nodes(&items, &mut pos)?;
        if let Some(kw) = end {
            return err(format!("unexpected {{{{{kw}}}}}"));
        }
        Ok(Template { nodes })
    }

    /// Renders against `data` (the root `.` and `$`).
    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        let mut scope = Scope {
            vars: vec![("$".into(), data.clone())],
        };
        exec(&self.nodes, Some(data), &mut scope, &mut out)?;
        Ok(out)
    }
}

// ------------------------------------------------------------------ lexing

enum Item {
    Text(String),
    /// The inside of `{{ }}`, trimmed.
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let trim_prev = after.starts_with("- ") || after.starts_with("-\t");
        if trim_prev {
            text = text.trim_end();
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        let close = find_close(after).ok_or_else(|| TemplateError("unclosed action".into()))?;
        let mut inner = &after[..close];
        if trim_prev {
            inner = &inner[1..];
        }
        trim_next = inner.ends_with(" -") || inner.ends_with("\t-");
        if trim_next {
            inner = &inner[..inner.len() - 1];
        }
        items.push(Item::Action(inner.trim().to_string()));
        rest = &after[close + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        items.push(Item::Text(text.to_string()));
    }
    Ok(items)
}

/// The `}}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q == b'"' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

// ----------------------------------------------------------------- parsing

/// Parses nodes until `{{end}}`/`{{else}}` (returned) or the end.
fn parse_nodes(items: &[Item], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let item = &items[*pos];
        *pos += 1;
        let action = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Item::Action(a) => a.as_str(),
        };
        let (word, rest) = split_word(action);
        match word {
            "end" | "else" => return Ok((nodes, Some(word.to_string()))),
            "if" => nodes.push(parse_if(rest, items, pos)?),
            "range" => nodes.push(parse_range(rest, items, pos)?),
            _ if action.starts_with("/*") => {}
            _ => nodes.push(Node::Action(parse_pipeline(action)?)),
        }
    }
    Ok((nodes, None))
}

fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// The body and optional else-branch of an if/range.
fn parse_branches(items: &[Item], pos: &mut usize) -> Result<(Vec<Node>, Vec<Node>)> {
    let (body, end) = parse_nodes(items, pos)?;
    match end.as_deref() {
        Some("end") => Ok((body, Vec::new())),
        Some(_) => {
            let (els, end) = parse_nodes(items, pos)?;
            if end.as_deref() != Some("end") {
                return err("missing {{end}}");
            }
            Ok((body, els))
        }
        None => err("missing {{end}}"),
    }
}

fn parse_if(cond: &str, items: &[Item], pos: &mut usize) -> Result<Node> {
    let cond = parse_pipeline(cond)?;
    let (body, els) = parse_branches(items, pos)?;
    Ok(Node::If(cond, body, els))
}

fn parse_range(spec: &str, items: &[Item], pos: &mut usize) -> Result<Node> {
    let (vars, pipe) = match spec.split_once(":=") {
        Some((vars, pipe)) => {
            let names = vars
                .split(',')
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>();
            if names.iter().any(|n| !n.starts_with('$')) || names.len() > 2 {
                return err(format!("bad range variables {vars:?}"));
            }
            (names, pipe)
        }
        None => (Vec::new(), spec),
    };
    let pipe = parse_pipeline(pipe)?;
    let (body, els) = parse_branches(items, pos)?;
    Ok(Node::Range(vars, pipe, body, els))
}

fn parse_pipeline(src: &str) -> Result<Pipeline> {
    let mut cmds = Vec::new();
    let mut current = Vec::new();
    for tok in tokenize(src)? {
        if tok == "|" {
            if current.is_empty() {
                return err("missing command before |");
            }
            cmds.push(std::mem::take(&mut current));
            continue;
        }
        current.push(parse_arg(&tok)?);
    }
    if current.is_empty() {
        return err(format!("missing value for command in {src:?}"));
    }
    cmds.push(current);
    Ok(Pipeline(cmds))
}

fn tokenize(src: &str) -> Result<Vec<String>> {
    let mut toks = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            toks.push("|".into());
        } else if c == '"' || c == '`' {
            toks.push(read_quoted(&mut chars)?);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            toks.push(word);
        }
    }
    Ok(toks)
}

/// A quoted token, kept with a leading quote so it parses as a string.
fn read_quoted(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<String> {
    let q = chars.next().unwrap_or('"');
    let mut s = String::from("\"");
    loop {
        match chars.next() {
            None => return err("unterminated quoted string"),
            Some(c) if c == q => return Ok(s),
            Some('\\') if q == '"' => match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some(other) => s.push(other),
                None => return err("unterminated quoted string"),
            },
            Some(c) => s.push(c),
        }
    }
}

fn fields(path: &str) -> Vec<String> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_arg(tok: &str) -> Result<Arg> {
    if let Some(s) = tok.strip_prefix('"') {
        return Ok(Arg::Str(s.to_string()));
    }
    if tok.starts_with('.') {
        return Ok(Arg::Dot(fields(tok)));
    }
    if tok.starts_with('$') {
        let (name, path) = match tok.find('.') {
            Some(i) => (&tok[..i], &tok[i..]),
            None => (tok, ""),
        };
        return Ok(Arg::Var(name.to_string(), fields(path)));
    }
    if let Ok(n) = tok.parse::<i64>() {
        return Ok(Arg::Int(n));
    }
    match tok {
        "true" => Ok(Arg::Bool(true)),
        "false" => Ok(Arg::Bool(false)),
        _ if tok.chars().all(|c| c.is_alphanumeric() || c == '_') => Ok(Arg::Func(tok.into())),
        _ => err(format!("unexpected {tok:?} in command")),
    }
}

// --------------------------------------------------------------- execution

struct Scope {
    vars: Vec<(String, Value)>,
}

impl Scope {
    fn get(&self, name: &str) -> Result<&Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| TemplateError(format!("undefined variable {name:?}")))
    }
}

/// `None` is Go's "no value" (a missing map key).
type Val = Option<Value>;

fn exec(nodes: &[Node], dot: Option<&Value>, scope: &mut Scope, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&display(&eval_pipeline(p, dot, scope)?)),
            Node::If(cond, body, els) => {
                let branch = if truthy(&eval_pipeline(cond, dot, scope)?) {
                    body
                } else {
                    els
                };
                exec(branch, dot, scope, out)?;
            }
            Node::Range(vars, pipe, body, els) => {
                let value = eval_pipeline(pipe, dot, scope)?;
                exec_range(vars, value, body, els, scope, out)?;
            }
        }
    }
    Ok(())
}

fn exec_range(
    vars: &[String],
    value: Val,
    body: &[Node],
    els: &[Node],
    scope: &mut Scope,
    out: &mut String,
) -> Result<()> {
    let entries: Vec<(Value, Value)> = match value {
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::from(i), v))
            .collect(),
        // serde_json's maps iterate in key order, like Go's range over a map.
        Some(Value::Object(map)) => map.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => {
            return err(format!(
                "range can't iterate over {}",
                display(&Some(other))
            ))
        }
    };
    if entries.is_empty() {
        return exec(els, None, scope, out);
    }
    for (key, item) in entries {
        let depth = scope.vars.len();
        match vars {
            [v] => scope.vars.push((v.clone(), item.clone())),
            [k, v] => {
                scope.vars.push((k.clone(), key));
                scope.vars.push((v.clone(), item.clone()));
            }
            _ => {}
        }
        let result = exec(body, Some(&item), scope, out);
        scope.vars.truncate(depth);
        result?;
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: Option<&Value>, scope: &Scope) -> Result<Val> {
    let mut piped: Option<Val> = None;
    for cmd in &p.0 {
        piped = Some(eval_command(cmd, dot, scope, piped)?);
    }
    Ok(piped.flatten())
}

fn eval_command(
    cmd: &[Arg],
    dot: Option<&Value>,
    scope: &Scope,
    piped: Option<Val>,
) -> Result<Val> {
    if let Some(Arg::Func(name)) = cmd.first() {
        let mut args = cmd[1..]
            .iter()
            .map(|a| eval_arg(a, dot, scope))
            .collect::<Result<Vec<_>>>()?;
        if let Some(p) = piped {
            args.push(p);
        }
        return call(name, args);
    }
    if cmd.len() != 1 || piped.is_some() {
        return err("can't give argument to non-function");
    }
    eval_arg(&cmd[0], dot, scope)
}

fn eval_arg(arg: &Arg, dot: Option<&Value>, scope: &Scope) -> Result<Val> {
    match arg {
        Arg::Dot(path) => Ok(walk(dot.cloned(), path)),
        Arg::Var(name, path) => Ok(walk(Some(scope.get(name)?.clone()), path)),
        Arg::Str(s) => Ok(Some(Value::from(s.clone()))),
        Arg::Int(n) => Ok(Some(Value::from(*n))),
        Arg::Bool(b) => Ok(Some(Value::from(*b))),
        Arg::Func(name) => call(name, Vec::new()),
    }
}

fn walk(mut v: Val, path: &[String]) -> Val {
    for key in path {
        v = match v {
            Some(Value::Object(mut map)) => map.remove(key),
            _ => None,
        };
    }
    v
}

fn call(name: &str, args: Vec<Val>) -> Result<Val> {
    let str_arg = |i: usize| args.get(i).map(display).unwrap_or_default();
    let v = match (name, args.len()) {
        ("json", 1) => Value::from(json(&args[0])),
        ("upper", 1) => Value::from(str_arg(0).to_uppercase()),
        ("lower", 1) => Value::from(str_arg(0).to_lowercase()),
        ("title", 1) => Value::from(title(&str_arg(0))),
        ("len", 1) => Value::from(length(&args[0])?),
        ("println", _) => {
            Value::from(args.iter().map(display).collect::<Vec<_>>().join(" ") + "\n")
        }
        ("print", _) => Value::from(args.iter().map(display).collect::<String>()),
        ("join", 2) => Value::from(join(&args[0], &str_arg(1))),
        ("split", 2) => Value::from(
            str_arg(0)
                .split(&str_arg(1))
                .map(Value::from)
                .collect::<Vec<_>>(),
        ),
        ("truncate", 2) => {
            let n = args[1].as_ref().and_then(Value::as_u64).unwrap_or(0) as usize;
            Value::from(str_arg(0).chars().take(n).collect::<String>())
        }
        ("pad", 3) => {
            let l = args[1].as_ref().and_then(Value::as_u64).unwrap_or(0) as usize;
            let r = args[2].as_ref().and_then(Value::as_u64).unwrap_or(0) as usize;
            Value::from(format!("{}{}{}", " ".repeat(l), str_arg(0), " ".repeat(r)))
        }
        ("index", n) if n >= 2 => return index(&args),
        ("not", 1) => Value::from(!truthy(&args[0])),
        ("eq", 2) => Value::from(args[0] == args[1]),
        ("ne", 2) => Value::from(args[0] != args[1]),
        ("json" | "upper" | "lower" | "title" | "len" | "join" | "split", _)
        | ("truncate" | "pad" | "index" | "not" | "eq" | "ne", _) => {
            return err(format!(
                "wrong number of args for {name}: got {}",
                args.len()
            ))
        }
        _ => return err(format!("function {name:?} not defined")),
    };
    Ok(Some(v))
}

fn index(args: &[Val]) -> Result<Val> {
    let mut v = args[0].clone();
    for key in &args[1..] {
        v = match (v, key) {
            (Some(Value::Object(mut m)), Some(Value::String(k))) => m.remove(k),
            (Some(Value::Array(a)), Some(Value::Number(n))) => {
                let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                match a.into_iter().nth(i) {
                    Some(x) => Some(x),
                    None => return err(format!("index out of range: {i}")),
                }
            }
            (None | Some(Value::Null), _) => None,
            _ => return err("can't index item"),
        };
    }
    Ok(v)
}

fn length(v: &Val) -> Result<usize> {
    match v {
        Some(Value::Array(a)) => Ok(a.len()),
        Some(Value::Object(m)) => Ok(m.len()),
        Some(Value::String(s)) => Ok(s.len()),
        None | Some(Value::Null) => Ok(0),
        _ => err("len of non-collection"),
    }
}

fn join(v: &Val, sep: &str) -> String {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| display(&Some(x.clone())))
            .collect::<Vec<_>>()
            .join(sep),
        other => display(other),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// Go's truth: false, 0, nil and empty collections are false.
fn truthy(v: &Val) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// `{{json .X}}`: compact JSON (a missing value is `null`).
pub fn json(v: &Val) -> String {
    match v {
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "null".into(),
    }
}

/// Go's `%v` of the value a JSON document decodes to.
pub fn display(v: &Val) -> String {
    match v {
        None => "<no value>".into(),
        Some(Value::Null) => "<nil>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) => {
            let items: Vec<String> = a.iter().map(|x| display(&Some(x.clone()))).collect();
            format!("[{}]", items.join(" "))
        }
        Some(Value::Object(m)) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{k}:{}", display(&Some(x.clone()))))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_and_functions() {
        let v = json!({"State": {"Running": true, "ExitCode": 3},
                       "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}},
                       "Name": "/x"});
        assert_eq!(render("{{.State.Running}}", &v), "true");
        assert_eq!(render("{{.State.ExitCode}} {{.Name}}", &v), "3 /x");
        assert_eq!(render("{{json .Config.Labels}}", &v), r#"{"k":"v"}"#);
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[k:v]");
        assert_eq!(render("{{.Nope}}", &v), "<no value>");
        assert_eq!(render("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(render("{{index .Config.Labels \"k\"}}", &v), "v");
        assert_eq!(render("{{.Name | upper}}", &v), "/X");
        assert_eq!(render("{{upper .Name}}", &v), "/X");
    }

    #[test]
    fn control_flow() {
        let v = json!({"Networks": {"b": {"IP": "2"}, "a": {"IP": "1"}}, "L": [], "T": true});
        assert_eq!(render("{{range .Networks}}{{.IP}};{{end}}", &v), "1;2;");
        assert_eq!(
            render("{{range $k, $v := .Networks}}{{$k}}={{$v.IP}} {{end}}", &v),
            "a=1 b=2 "
        );
        assert_eq!(render("{{range .L}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(render("{{if .T}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(render("{{if .L}}yes{{else}}no{{end}}", &v), "no");
        assert_eq!(render("a  {{- .T -}}  b", &v), "atrueb");
        assert_eq!(render("{{$.T}}", &v), "true");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{if .A}}x").is_err());
        let t = Template::parse("{{nope .A}}").unwrap();
        assert!(t.render(&json!({})).is_err());
    }
}
