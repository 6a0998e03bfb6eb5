//! Query strings, percent-encoded, plus docker's JSON `filters` parameter.

use std::collections::BTreeMap;

/// An ordered list of query parameters.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds `key=value`.
    pub fn set(mut self, key: &str, value: impl ToString) -> Query {
        self.pairs.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn set_opt(self, key: &str, value: Option<impl ToString>) -> Query {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Adds `key=1` when `flag` is set (docker's boolean parameters).
    pub fn flag(self, key: &str, flag: bool) -> Query {
        if flag {
            self.set(key, "1")
        } else {
            self
        }
    }

    /// Adds docker's `filters={"key":["v1","v2"]}` when there are any.
    pub fn filters(self, filters: &BTreeMap<String, Vec<String>>) -> Query {
        if filters.is_empty() {
            return self;
        }
        // A map of strings to string lists always serializes.
        let json = serde_json::to_string(filters).unwrap_or_default();
        self.set("filters", json)
    }

    /// `?k=v&...`, or an empty string.
    pub fn encode(&self) -> String {
        if self.pairs.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_values_and_filters() {
        let mut f = BTreeMap::new();
        f.insert("status".to_string(), vec!["exited".to_string()]);
        let q = Query::new()
            .flag("all", true)
            .flag("size", false)
            .set("name", "a b/c")
            .filters(&f);
        assert_eq!(
            q.encode(),
            "?all=1&name=a%20b%2Fc&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D"
        );
        assert_eq!(Query::new().encode(), "");
    }
}
