//! The visibility rule on PostgreSQL: the person's numbers as a text array, and the mail
//! routes' globs translated to regular expressions, so that `~ ANY(...)` matches a name as
//! globset matches it on SQLite and in mail routing.

use super::tx::PgTx;
use crate::db::DbError;
use crate::db::access::{Scope, Visibility};

/// The condition for `visible` over a conference id column (and name column, when the query
/// has one), with the placeholders `numbers` and `names` for [`values`].
pub fn condition(
    uuid_column: &str,
    name_column: Option<&str>,
    numbers: &str,
    names: &str,
) -> String {
    let by_name = match name_column {
        Some(name) => format!("{name} ~ ANY({names})"),
        None => format!(
            "{uuid_column} IN (SELECT vc.conference_uuid FROM conferences vc
                               WHERE vc.name ~ ANY({names}))"
        ),
    };
    format!(
        "({uuid_column} IN (SELECT vp.conference_uuid FROM participants vp
                            WHERE vp.from_normalized = ANY({numbers}))
          OR {by_name})"
    )
}

/// The numbers and the name expressions the condition binds.
pub fn values(scope: &Scope) -> (Vec<String>, Vec<String>) {
    (
        scope.numbers.clone(),
        scope.names.iter().map(|g| glob_regex(g)).collect(),
    )
}

/// Whether `visible` allows the conference `uuid` (false for none).
pub fn may_see(tx: &PgTx<'_>, visible: &Visibility, uuid: Option<&str>) -> Result<bool, DbError> {
    let Visibility::Only(scope) = visible else {
        return Ok(true);
    };
    let Some(uuid) = uuid else {
        return Ok(false);
    };
    let (numbers, names) = values(scope);
    let sql = format!("SELECT {}", condition("$1::text", None, "$2", "$3"));
    Ok(tx.one(&sql, &[&uuid, &numbers, &names])?.try_get(0)?)
}

/// A glob (globset's syntax and defaults: `*` and `?` cross every character, `[...]` and
/// `[!...]` classes, `{a,b}` alternatives, `\` escapes) as an anchored regular expression
/// that PostgreSQL's engine reads the same way.
pub fn glob_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    let mut in_alternatives = false;
    while let Some(ch) = chars.next() {
        match ch {
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '\\' => literal(&mut out, chars.next().unwrap_or('\\')),
            '[' => {
                out.push('[');
                if matches!(chars.peek(), Some('!' | '^')) {
                    chars.next();
                    out.push('^');
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
                for c in chars.by_ref() {
                    match c {
                        ']' => break,
                        '\\' | '[' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c => out.push(c),
                    }
                }
                out.push(']');
            }
            '{' if !in_alternatives => {
                in_alternatives = true;
                out.push_str("(?:");
            }
            '}' if in_alternatives => {
                in_alternatives = false;
                out.push(')');
            }
            ',' if in_alternatives => out.push('|'),
            c => literal(&mut out, c),
        }
    }
    out.push('$');
    out
}

fn literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::glob_regex;

    #[test]
    fn globs_become_anchored_expressions_with_literals_escaped() {
        assert_eq!(glob_regex("Sales*"), "^Sales.*$");
        assert_eq!(glob_regex("a?c.d"), "^a.c\\.d$");
        assert_eq!(glob_regex("[!x-z]1"), "^[^x-z]1$");
        assert_eq!(
            glob_regex("{Stand,Sit}up (*)"),
            "^(?:Stand|Sit)up \\(.*\\)$"
        );
        assert_eq!(glob_regex("100\\*"), "^100\\*$");
    }
}
