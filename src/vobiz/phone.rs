//! Phone numbers as Vobiz sends them (`918071387423`, `+91…`, `sip:…@host`) reduced to one
//! searchable form. The raw value is always stored beside it.

/// A number as searched by, or `None` when nothing is left of it (or there is none).
pub fn normalized(raw: Option<&str>) -> Option<String> {
    raw.map(normalize).filter(|n| !n.is_empty())
}

/// The digits of a number, without `+`, separators or a `sip:` wrapper. A SIP user that is not
/// a number (`sip:alice@pbx`) is kept, lower-cased.
pub fn normalize(raw: &str) -> String {
    let trimmed = raw.trim();
    let lower = trimmed.to_ascii_lowercase();
    let without_scheme = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let user = without_scheme
        .split(['@', ';'])
        .next()
        .unwrap_or(without_scheme);
    let is_number = user
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'));
    if is_number && user.chars().any(|c| c.is_ascii_digit()) {
        user.chars().filter(char::is_ascii_digit).collect()
    } else {
        user.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn every_spelling_of_one_number_normalizes_alike() {
        for raw in [
            "918071387423",
            "+918071387423",
            "sip:918071387423@sip.vobiz.ai",
            "SIP:+918071387423@host;transport=udp",
            "+91 80-7138 7423",
            "tel:+918071387423",
        ] {
            assert_eq!(normalize(raw), "918071387423", "{raw}");
        }
    }

    #[test]
    fn a_named_sip_user_is_kept() {
        assert_eq!(normalize("sip:Alice@pbx.example"), "alice");
    }
}
