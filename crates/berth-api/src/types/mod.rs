//! Docker Engine API types, with Docker's JSON names.
//!
//! Responses are parsed leniently (`#[serde(default)]`, unknown fields
//! ignored): the CLI reads what it shows and must not break on a daemon
//! that adds or omits fields. Requests leave unset options out, so the
//! daemon applies its own defaults.

pub mod container;
pub mod events;
pub mod exec;
pub mod image;
pub mod progress;
pub mod stats;
pub mod system;

pub use container::*;
pub use events::*;
pub use exec::*;
pub use image::*;
pub use progress::*;
pub use stats::*;
pub use system::*;

/// Skips empty collections when serializing requests.
pub(crate) fn is_empty<T: IsEmpty + ?Sized>(v: &T) -> bool {
    v.is_empty()
}

pub(crate) trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> IsEmpty for std::collections::BTreeMap<K, V> {
    fn is_empty(&self) -> bool {
        std::collections::BTreeMap::is_empty(self)
    }
}

impl IsEmpty for String {
    fn is_empty(&self) -> bool {
        String::is_empty(self)
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Reads `null` as the default (docker sends `null` for empty lists and
/// maps in many places; `#[serde(default)]` only covers missing fields).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize as _;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
