//! A run's dead letters, streamed into the `dead_letters` table and
//! committed with the run's rows.

use std::path::Path;
use std::sync::Arc;

use delegraph_model::{DeadLetter, Timestamp};
use delegraph_store::{
    ClosedFiles, DEAD_LETTER_TABLE, DayFiling, DeadLetterRow, TableAppend, TableLog,
    dead_letters_batch, dead_letters_schema,
};

use crate::PipelineError;

/// How much of a rejected record's text is kept; the origin points at the
/// full record.
pub const MAX_DEAD_LETTER_RAW: usize = 64 * 1024;

/// Dead letters buffered before they are encoded.
const BATCH: usize = 1024;

/// One run's dead letters, not yet committed.
pub struct DeadLetters {
    table: TableAppend,
    buffer: Vec<DeadLetterRow>,
}

/// `letter` with its text cut to [`MAX_DEAD_LETTER_RAW`] (and marked).
fn cut(mut letter: DeadLetter) -> DeadLetter {
    if letter.raw.len() > MAX_DEAD_LETTER_RAW {
        let at = (0..=MAX_DEAD_LETTER_RAW)
            .rev()
            .find(|i| letter.raw.is_char_boundary(*i))
            .unwrap_or(0);
        let total = letter.raw.len();
        letter.raw.truncate(at);
        letter
            .raw
            .push_str(&format!("…[cut: {total} bytes in all]"));
    }
    letter
}

impl DeadLetters {
    /// Start a run's dead letters for the table under `data_dir`.
    pub fn open(data_dir: &Path, filing: DayFiling) -> Result<Self, PipelineError> {
        Ok(Self {
            table: TableAppend::open(data_dir, DEAD_LETTER_TABLE, dead_letters_schema(), filing)?,
            buffer: Vec::new(),
        })
    }

    /// Record one rejected record, stamped now.
    pub fn write(&mut self, letter: DeadLetter) -> Result<(), PipelineError> {
        self.buffer.push(DeadLetterRow {
            at: Timestamp::now().nanos(),
            letter: cut(letter),
        });
        if self.buffer.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PipelineError> {
        if !self.buffer.is_empty() {
            let rows = std::mem::take(&mut self.buffer);
            self.table.write(dead_letters_batch(&rows)?)?;
        }
        Ok(())
    }

    /// File the next run's letters by `filing`.
    pub fn set_filing(&mut self, filing: DayFiling) {
        self.table.set_filing(filing);
    }

    /// The log of the table the letters are committed to.
    pub(crate) fn log(&self) -> Arc<TableLog> {
        self.table.log()
    }

    /// Finish the run's file of letters for a commit elsewhere (see
    /// [`TableAppend::close`]).
    pub fn close(&mut self) -> Result<ClosedFiles, PipelineError> {
        self.flush()?;
        Ok(self.table.close()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use delegraph_model::Origin;

    #[test]
    fn long_records_are_cut_on_a_character_boundary_and_marked() {
        let letter = DeadLetter {
            reason: "oversized".into(),
            detail: "d".into(),
            origin: Origin::File {
                path: "x".into(),
                line: 1,
                index: None,
            },
            source: None,
            raw: "é".repeat(MAX_DEAD_LETTER_RAW),
        };
        let raw = cut(letter).raw;
        assert!(raw.len() < MAX_DEAD_LETTER_RAW + 64, "{}", raw.len());
        assert!(raw.ends_with(&format!("…[cut: {} bytes in all]", 2 * MAX_DEAD_LETTER_RAW)));
    }
}
