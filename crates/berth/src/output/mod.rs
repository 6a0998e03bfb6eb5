//! How results are shown: docker's tables, Go-template `--format`,
//! progress streams, and human units.

pub mod format;
pub mod listing;
pub mod progress;
pub mod table;
pub mod units;
