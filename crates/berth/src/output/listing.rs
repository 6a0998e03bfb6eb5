//! `--format` for list commands, as docker's formatter does it: `table
//! TEMPLATE` renders a header row from the column names and aligns the
//! columns; `json` prints each row as a JSON object; any other template
//! prints one line per row. `\t` and `\n` typed on the command line are
//! real tabs and newlines.

use serde_json::Value;

use super::format::{Template, TemplateError};
use super::table::docker_table;

/// Renders `rows` with `format`; `default_table` stands in for a bare
/// `table`; `header` maps field names to column titles.
pub fn render(
    format: &str,
    default_table: &str,
    rows: &[Value],
    header: &Value,
) -> Result<String, TemplateError> {
    let format = format.trim();
    if format == "json" {
        return render_lines("{{json .}}", rows);
    }
    if let Some(rest) = format.strip_prefix("table") {
        let rest = rest.trim();
        let body = if rest.is_empty() {
            default_table.trim_start_matches("table").trim()
        } else {
            rest
        };
        let tmpl = Template::parse(&unescape(body))?;
        let mut text = tmpl.render(header)?;
        text.push('\n');
        for row in rows {
            text.push_str(&tmpl.render(row)?);
            text.push('\n');
        }
        return Ok(docker_table(&text));
    }
    render_lines(format, rows)
}

/// [`render`] to stdout.
pub fn print(
    format: &str,
    default_table: &str,
    rows: &[Value],
    header: &Value,
) -> Result<(), TemplateError> {
    print!("{}", render(format, default_table, rows, header)?);
    Ok(())
}

fn render_lines(format: &str, rows: &[Value]) -> Result<String, TemplateError> {
    let tmpl = Template::parse(&unescape(format))?;
    let mut out = String::new();
    for row in rows {
        out.push_str(&tmpl.render(row)?);
        out.push('\n');
    }
    Ok(out)
}

/// Docker replaces the two-character sequences `\t` and `\n`.
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_json_and_plain() {
        let rows = vec![json!({"ID": "abc", "Names": "x"})];
        let header = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let t = render("table", "table {{.ID}}\t{{.Names}}", &rows, &header).unwrap();
        assert_eq!(t, "CONTAINER ID   NAMES\nabc            x\n");
        let t = render("table {{.Names}}\\t{{.ID}}", "", &rows, &header).unwrap();
        assert_eq!(t, "NAMES     CONTAINER ID\nx         abc\n");
        assert_eq!(render("{{.ID}}", "", &rows, &header).unwrap(), "abc\n");
        assert_eq!(
            render("json", "", &rows, &header).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"x\"}\n"
        );
    }
}
