//! Docker's `filters` query parameter: JSON, either
//! `{"label":{"a=b":true},"status":{"exited":true}}` or the older
//! `{"label":["a=b"]}`. Values of one key are ORed, keys are ANDed.

use std::collections::BTreeMap;

use crate::http::ApiError;

/// Parsed filters: key to its accepted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the parameter (absent or empty: no filters).
    pub fn parse(raw: Option<&str>) -> Result<Filters, ApiError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Filters::default());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filters: {e}")))?;
        let Some(map) = value.as_object() else {
            return Err(ApiError::bad_request("invalid filters: not a JSON object"));
        };
        let mut out = BTreeMap::new();
        for (key, values) in map {
            let list: Vec<String> = match values {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => return Err(ApiError::bad_request(format!("invalid filter {key:?}"))),
            };
            out.insert(key.clone(), list);
        }
        Ok(Filters(out))
    }

    /// The values given for `key` (empty if not filtered on).
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `key` is filtered on.
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The filter keys used.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Refuses keys outside `allowed`, as Docker does ("invalid filter").
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for key in self.keys() {
            if !allowed.contains(&key) {
                return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
            }
        }
        Ok(())
    }

    /// `true` when `key` is not filtered on, or `pred` holds for one of its
    /// values.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        !self.has(key) || self.values(key).iter().any(|v| pred(v))
    }

    /// Docker's label filter: `key` or `key=value`, every one must match.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.values("label")
            .iter()
            .all(|f| match f.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
                None => labels.contains_key(f.as_str()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_labels_and() {
        let a = Filters::parse(Some(
            r#"{"label":{"a=b":true,"c":true},"status":{"exited":true}}"#,
        ))
        .unwrap();
        let b = Filters::parse(Some(r#"{"label":["a=b","c"],"status":["exited"]}"#)).unwrap();
        assert_eq!(a, b);
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        assert!(!a.labels_match(&labels));
        labels.insert("c".to_string(), "x".to_string());
        assert!(a.labels_match(&labels));
        assert!(a.any("status", |s| s == "exited"));
        assert!(a.any("name", |_| false));
        assert!(Filters::parse(Some("[1]")).is_err());
        assert!(Filters::parse(Some("{")).is_err());
        assert!(a.only(&["label"]).is_err());
        assert_eq!(Filters::parse(None).unwrap(), Filters::default());
    }
}
