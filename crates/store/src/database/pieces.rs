//! A statement assembled from SQL text and values, rendered per backend: `?` with the values as
//! text for SQLite's own handle, a query builder's binds for PostgreSQL. For the few statements
//! whose shape depends on the policy, and the large reads SQLite makes on the connection's handle.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use crate::StoredTime;

#[derive(Clone)]
enum Piece {
    Sql(String),
    Text(String),
    Time(DateTime<Utc>),
}

/// The statement so far.
#[derive(Clone, Default)]
pub(crate) struct StatementPieces {
    pieces: Vec<Piece>,
}

impl From<&str> for StatementPieces {
    fn from(sql: &str) -> Self {
        let mut pieces = StatementPieces::default();
        pieces.sql(sql);
        pieces
    }
}

impl StatementPieces {
    pub(crate) fn sql(&mut self, sql: impl Into<String>) -> &mut Self {
        self.pieces.push(Piece::Sql(sql.into()));
        self
    }

    pub(crate) fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.pieces.push(Piece::Text(value.into()));
        self
    }

    pub(crate) fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.pieces.push(Piece::Time(value));
        self
    }

    /// ` OR (kind = … [AND outcome = …])` for each of the policy's real follow-ups, with
    /// `prefix` before the column names (`"i."`); after an opening `(1 = 0`.
    pub(crate) fn real_follow_up_terms(
        &mut self,
        prefix: &str,
        real_follow_up: &[allot_core::pool::RealFollowUp],
    ) -> &mut Self {
        for real in real_follow_up {
            self.sql(format!(" OR ({prefix}kind = "))
                .text(real.kind.as_str());
            if let Some(outcome) = &real.outcome {
                self.sql(format!(" AND {prefix}outcome = "))
                    .text(outcome.as_str());
            }
            self.sql(")");
        }
        self
    }

    /// The statement with `?` for each value, and the values in order (times as stored).
    pub(crate) fn for_sqlite(self) -> (String, Vec<String>) {
        let mut statement = String::new();
        let mut values = Vec::new();
        for piece in self.pieces {
            match piece {
                Piece::Sql(sql) => statement.push_str(&sql),
                Piece::Text(text) => {
                    statement.push('?');
                    values.push(text);
                }
                Piece::Time(time) => {
                    statement.push('?');
                    values.push(StoredTime(time).text());
                }
            }
        }
        (statement, values)
    }

    /// The statement as PostgreSQL's query builder, each value bound with its type.
    pub(crate) fn for_postgres(self) -> QueryBuilder<'static, Postgres> {
        let mut query = QueryBuilder::new("");
        for piece in self.pieces {
            match piece {
                Piece::Sql(sql) => query.push(sql),
                Piece::Text(text) => query.push_bind(text),
                Piece::Time(time) => query.push_bind(StoredTime(time)),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_gets_the_same_values_in_order() {
        let at = DateTime::parse_from_rfc3339("2027-03-01T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let mut pieces = StatementPieces::default();
        pieces
            .sql("SELECT 1 WHERE a = ")
            .text("x")
            .sql(" AND b <= ")
            .time(at);
        let (statement, values) = pieces.clone().for_sqlite();
        assert_eq!(statement, "SELECT 1 WHERE a = ? AND b <= ?");
        assert_eq!(values, ["x".to_string(), StoredTime(at).text()]);
        assert_eq!(
            pieces.for_postgres().sql(),
            "SELECT 1 WHERE a = $1 AND b <= $2"
        );
    }
}
