//! API versions: the range served, and the `/vX.Y` path prefix.

use crate::http::ApiError;

/// The newest API version served (what `/version` and `/_ping` report).
pub const API_VERSION: &str = "1.47";
/// The oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.24";

/// A `major.minor` API version.
pub type ApiVersion = (u32, u32);

/// A parsed `major.minor`.
pub fn parse(v: &str) -> Option<ApiVersion> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Splits `/v1.44/containers/json` into the version (if any) and the rest.
/// A version outside the served range is an error, worded as moby's.
pub fn strip_prefix(path: &str) -> Result<(Option<ApiVersion>, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some(parsed) = parse(ver) else {
        // Not a version after all (e.g. `/volumes`).
        return Ok((None, path));
    };
    let (min, max) = (parse(MIN_API_VERSION), parse(API_VERSION));
    if Some(parsed) < min {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if Some(parsed) > max {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok((Some(parsed), tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(strip_prefix("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(
            strip_prefix("/v1.44/containers/json").unwrap(),
            (Some((1, 44)), "/containers/json")
        );
        assert_eq!(strip_prefix("/volumes").unwrap(), (None, "/volumes"));
        assert!(strip_prefix("/v1.12/info")
            .unwrap_err()
            .message
            .contains("too old"));
        assert!(strip_prefix("/v1.99/info")
            .unwrap_err()
            .message
            .contains("too new"));
        assert_eq!(strip_prefix("/v1.24").unwrap(), (Some((1, 24)), "/"));
    }
}
