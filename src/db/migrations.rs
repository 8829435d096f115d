//! What a migrator applies: the migrations compiled into this build, checked against those a
//! database records as applied. One that was edited after it was applied, or one this build does
//! not know (the database is from a newer confvault), is refused before anything runs.

use sha2::{Digest, Sha256};

use super::DbError;

/// A migration compiled into this build: its name and its SQL. Never edit one that has landed.
pub type Migration = (&'static str, &'static str);

/// The checksum a database records for a migration's SQL.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// The migrations of `compiled` still to apply, in order, given the database's `applied`
/// (name, checksum) pairs.
pub fn pending(
    compiled: &'static [Migration],
    applied: &[(String, String)],
) -> Result<Vec<Migration>, DbError> {
    for (name, recorded) in applied {
        match compiled.iter().find(|(n, _)| n == name) {
            None => return Err(DbError::UnknownMigration { name: name.clone() }),
            Some((_, sql)) if &checksum(sql) != recorded => {
                return Err(DbError::MigrationChanged { name: name.clone() });
            }
            Some(_) => {}
        }
    }
    Ok(compiled
        .iter()
        .filter(|(name, _)| !applied.iter().any(|(n, _)| n == name))
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPILED: &[Migration] = &[
        ("0001_a", "CREATE TABLE a (x)"),
        ("0002_b", "CREATE TABLE b (x)"),
    ];

    #[test]
    fn only_what_was_not_applied_is_pending_in_order() {
        let applied = [("0001_a".to_owned(), checksum("CREATE TABLE a (x)"))];
        let names: Vec<_> = pending(COMPILED, &applied)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["0002_b"]);
        assert_eq!(pending(COMPILED, &[]).unwrap().len(), 2);
    }

    #[test]
    fn an_edited_or_unknown_migration_is_refused() {
        let edited = [("0001_a".to_owned(), checksum("CREATE TABLE a (y)"))];
        assert!(matches!(
            pending(COMPILED, &edited),
            Err(DbError::MigrationChanged { .. })
        ));
        let newer = [("0009_z".to_owned(), "x".to_owned())];
        assert!(matches!(
            pending(COMPILED, &newer),
            Err(DbError::UnknownMigration { .. })
        ));
    }
}
