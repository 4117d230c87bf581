//! What a statement may cost before DataFusion plans it. The planner and
//! the optimizer walk expression trees recursively, and a chain of binary
//! operators (`1+1+…`, `a OR b OR …`) is parsed into a tree as deep as it
//! is long: 1,500 terms overflowed a thread's stack and aborted the whole
//! process (the parser's nesting limit does not see it; the chain is flat
//! text). Counting the operators on the token stream is linear and cannot
//! overflow; long value lists stay possible with `IN (…)`, which is flat.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::StoreError;

/// Longest statement accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 256 * 1024;
/// Most operators (binary operators and the keywords that chain
/// expressions or queries) in one statement. Planning a chain this long
/// stays within a 2 MiB thread stack in a debug build (tested).
pub const MAX_OPERATORS: usize = 400;

/// Refuse a statement too long or with too many chained operators.
pub(crate) fn check_sql(sql: &str) -> Result<(), StoreError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(StoreError::Refused(format!(
            "statement of {} bytes; the limit is {MAX_SQL_BYTES}",
            sql.len()
        )));
    }
    // A statement that does not tokenize is the parser's to report.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let operators = tokens.iter().filter(|t| chains(t)).count();
    if operators > MAX_OPERATORS {
        return Err(StoreError::Refused(format!(
            "expression too complex: {operators} operators, the limit is {MAX_OPERATORS} \
             (write long lists of values as IN (…))"
        )));
    }
    Ok(())
}

/// Whether a token links two expressions or queries into a deeper tree.
/// Anything not known to be a plain value or punctuation counts.
fn chains(t: &Token) -> bool {
    match t {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::IS
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::JOIN
                | Keyword::WHEN
                | Keyword::NOT
        ),
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::Whitespace(_)
        | Token::Comma
        | Token::LParen
        | Token::RParen
        | Token::Period
        | Token::SemiColon
        | Token::DoubleColon
        | Token::Placeholder(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(op: &str, n: usize) -> String {
        format!("SELECT {}", vec!["1"; n + 1].join(op))
    }

    #[test]
    fn long_operator_chains_are_refused_and_lists_are_not() {
        assert!(check_sql(&chain("+", MAX_OPERATORS)).is_ok());
        let err = check_sql(&chain("+", MAX_OPERATORS + 1)).unwrap_err();
        assert!(err.to_string().contains("too complex"), "{err}");
        let ors = format!(
            "SELECT * FROM events WHERE {}",
            vec!["actor = 'x'"; 20_000].join(" OR ")
        );
        assert!(check_sql(&ors).is_err());
        let list = format!(
            "SELECT * FROM events WHERE actor IN ({})",
            vec!["'x'"; 20_000].join(", ")
        );
        assert!(check_sql(&list).is_ok());
        assert!(check_sql(&"x".repeat(MAX_SQL_BYTES + 1)).is_err());
    }

    /// The longest chain accepted plans and runs on a thread with the stack
    /// of a tokio worker (2 MiB), in whatever build runs the tests.
    #[test]
    fn the_longest_accepted_chain_runs_on_a_small_stack() {
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let ctx = datafusion::prelude::SessionContext::new();
                    let sum = chain("+", MAX_OPERATORS);
                    let df = ctx.sql(&sum).await.unwrap();
                    df.collect().await.unwrap().len()
                        + ctx
                            .sql(&format!(
                                "SELECT 1 WHERE {}",
                                vec!["1 = 2"; MAX_OPERATORS / 2].join(" OR ")
                            ))
                            .await
                            .unwrap()
                            .collect()
                            .await
                            .unwrap()
                            .len()
                })
            })
            .unwrap();
        assert!(worker.join().unwrap() >= 1);
    }
}
