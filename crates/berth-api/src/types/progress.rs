//! The JSON messages of progress streams (pull, push, load, import).

use serde::{Deserialize, Serialize};

/// One message: `{"status","progressDetail":{"current","total"},"id",
/// "error","errorDetail"}` (and `stream` for load's text output).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Present (possibly empty) on per-layer messages; its absence and an
    /// empty `{}` are displayed differently, as docker does.
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// The daemon's own rendering of the bar (older daemons).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    /// The error this message reports, if any.
    pub fn error_message(&self) -> Option<&str> {
        if let Some(d) = &self.error_detail {
            if !d.message.is_empty() {
                return Some(&d.message);
            }
        }
        (!self.error.is_empty()).then_some(self.error.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub total: i64,
    /// Unix seconds when the transfer started (for the time left).
    #[serde(skip_serializing_if = "is_zero")]
    pub start: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub units: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "is_zero")]
    pub code: i64,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_progress_detail_is_kept_apart_from_none() {
        let m: JsonMessage =
            serde_json::from_str(r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#)
                .unwrap();
        assert_eq!(m.progress_detail, Some(ProgressDetail::default()));
        let m: JsonMessage = serde_json::from_str(r#"{"status":"Digest: x"}"#).unwrap();
        assert_eq!(m.progress_detail, None);
        let m: JsonMessage =
            serde_json::from_str(r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#).unwrap();
        assert_eq!(m.error_message(), Some("boom"));
    }
}
