//! Azure Monitor diagnostic records: Entra's logs arrive either as
//! Microsoft Graph returns them or wrapped in a diagnostic record whose
//! `category` names the log, with the Graph fields under `properties`.

use delegraph_model::Source;
use serde::Deserialize;

use crate::{DecodeError, parse};

/// The `category` a record was delivered under, if it is a diagnostic
/// record (a Graph record has none at its top).
pub(super) fn category(source: Source, text: &str) -> Result<Option<String>, DecodeError> {
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        category: Option<String>,
    }
    Ok(parse::<Shape>(source, text)?.category)
}
