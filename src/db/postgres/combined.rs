//! Several writes sent as one statement: each a sub-statement of one `WITH`, its parameters
//! numbered after those of the writes before it. The server then parses, binds and answers
//! once for all of them.

/// Every combination of a fixed list of statements, made once.
pub struct Combined {
    /// By set of statements: bit `k` of the index stands for the `k`th statement.
    all: Vec<String>,
}

impl Combined {
    pub fn of(statements: &[&str]) -> Self {
        let all = (0..1usize << statements.len())
            .map(|present| combine(statements, present))
            .collect();
        Self { all }
    }

    /// The statement running those whose bits `present` sets, in their order; empty for none.
    pub fn get(&self, present: usize) -> &str {
        self.all.get(present).map_or("", String::as_str)
    }
}

fn combine(statements: &[&str], present: usize) -> String {
    let parts: Vec<_> = statements
        .iter()
        .enumerate()
        .filter(|(k, _)| present & (1 << k) != 0)
        .collect();
    match parts[..] {
        [] => String::new(),
        [(_, only)] => (*only).to_owned(),
        _ => {
            let mut offset = 0;
            let mut ctes = Vec::with_capacity(parts.len());
            for (k, sql) in parts {
                ctes.push(format!("w{k} AS ({})", renumbered(sql, offset)));
                offset += parameters(sql);
            }
            format!("WITH {} SELECT 1", ctes.join(", "))
        }
    }
}

/// `sql` with each `$n` made `$(n + by)`.
fn renumbered(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// How many parameters `sql` takes: its highest `$n`.
fn parameters(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|after| {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            after[..digits].parse().ok()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "INSERT INTO a SELECT * FROM unnest($1::text[], $2::int[])";
    const B: &str = "UPDATE b SET x = $2 WHERE y = $1";
    const C: &str = "DELETE FROM c WHERE z = $1";

    #[test]
    fn a_lone_statement_is_sent_as_written() {
        let combined = Combined::of(&[A, B, C]);
        assert_eq!(combined.get(0b010), B);
        assert_eq!(combined.get(0), "");
    }

    #[test]
    fn later_statements_take_the_parameters_after_the_earlier_ones() {
        let combined = Combined::of(&[A, B, C]);
        assert_eq!(
            combined.get(0b111),
            "WITH w0 AS (INSERT INTO a SELECT * FROM unnest($1::text[], $2::int[])), \
             w1 AS (UPDATE b SET x = $4 WHERE y = $3), \
             w2 AS (DELETE FROM c WHERE z = $5) SELECT 1"
        );
        assert_eq!(
            combined.get(0b101),
            "WITH w0 AS (INSERT INTO a SELECT * FROM unnest($1::text[], $2::int[])), \
             w2 AS (DELETE FROM c WHERE z = $3) SELECT 1"
        );
    }

    #[test]
    fn a_dollar_without_a_number_is_left_alone() {
        assert_eq!(renumbered("SELECT '$x', $1", 2), "SELECT '$x', $3");
        assert_eq!(parameters("SELECT '$x', $12, $3"), 12);
    }
}
