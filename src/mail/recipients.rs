//! Who receives a conference's summary: the default list, routes by conference-name glob,
//! attendees with a known address (when enabled), less the opt-outs. One entry per address.

use std::collections::HashMap;

use anyhow::Context;
use globset::GlobMatcher;

use crate::config::{DirectoryEntry, EmailAddress, MailConfig};
use crate::vobiz::phone;

/// Numbers to names and addresses.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    by_number: HashMap<String, (String, Option<String>)>,
}

impl Directory {
    pub fn load(entries: &[DirectoryEntry], csv: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut directory = Self::default();
        if let Some(path) = csv {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("mail.directory_csv {}", path.display()))?;
            for (i, line) in text.lines().enumerate().skip(1) {
                if line.trim().is_empty() {
                    continue;
                }
                let mut cells = line
                    .split(',')
                    .map(|c| c.trim().trim_matches('"').to_owned());
                let (Some(number), Some(name)) = (cells.next(), cells.next()) else {
                    anyhow::bail!(
                        "mail.directory_csv line {}: expected number,name[,email]",
                        i + 1
                    );
                };
                let email = cells.next().filter(|e| !e.is_empty());
                directory.insert(&number, name, email);
            }
        }
        for entry in entries {
            directory.insert(
                &entry.number,
                entry.name.clone(),
                entry.email.as_ref().map(|e| e.as_str().to_owned()),
            );
        }
        Ok(directory)
    }

    fn insert(&mut self, number: &str, name: String, email: Option<String>) {
        self.by_number
            .insert(phone::normalize(number), (name, email));
    }

    pub fn name_of(&self, number: &str) -> Option<&str> {
        self.by_number
            .get(&phone::normalize(number))
            .map(|(n, _)| n.as_str())
    }

    /// Every known number (normalised) with its name and address.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, Option<&str>)> {
        self.by_number
            .iter()
            .map(|(number, (name, email))| (number.as_str(), name.as_str(), email.as_deref()))
    }

    pub fn email_of(&self, number: &str) -> Option<&str> {
        self.by_number
            .get(&phone::normalize(number))
            .and_then(|(_, e)| e.as_deref())
    }
}

fn addresses(list: &[EmailAddress]) -> Vec<String> {
    list.iter().map(|a| a.as_str().to_owned()).collect()
}

pub struct RecipientRules {
    default_to: Vec<String>,
    routes: Vec<(GlobMatcher, Vec<String>)>,
    notify_attendees: bool,
    opt_out: Vec<String>,
    pub directory: Directory,
}

impl RecipientRules {
    pub fn from_config(mail: &MailConfig) -> anyhow::Result<Self> {
        Ok(Self {
            default_to: addresses(&mail.to),
            routes: mail
                .routes
                .iter()
                .map(|r| (r.conferences.matcher(), addresses(&r.to)))
                .collect(),
            notify_attendees: mail.notify_attendees,
            opt_out: mail
                .opt_out
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
            directory: Directory::load(&mail.directory, mail.directory_csv.as_deref())?,
        })
    }

    /// The addresses for a conference named `name` attended from `numbers`, each once.
    pub fn for_conference<'a>(
        &self,
        name: &str,
        numbers: impl Iterator<Item = &'a str>,
    ) -> Vec<String> {
        let mut all: Vec<String> = self.default_to.clone();
        for (glob, to) in &self.routes {
            if glob.is_match(name) {
                all.extend(to.iter().cloned());
            }
        }
        if self.notify_attendees {
            all.extend(numbers.filter_map(|n| self.directory.email_of(n).map(str::to_owned)));
        }
        let mut seen = Vec::new();
        all.retain(|a| {
            let key = a.trim().to_ascii_lowercase();
            let keep = !seen.contains(&key) && !self.opt_out.contains(&key);
            seen.push(key);
            keep
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MailRoute;

    #[test]
    fn routes_attendees_and_opt_outs_combine_into_one_list() {
        let mail = MailConfig {
            to: vec!["ops@example.com".parse().unwrap()],
            routes: vec![MailRoute {
                conferences: "Sales*".to_owned().try_into().unwrap(),
                to: vec![
                    "sales@example.com".parse().unwrap(),
                    "OPS@example.com".parse().unwrap(),
                ],
            }],
            directory: vec![
                DirectoryEntry {
                    number: "+91 80713 87423".into(),
                    name: "Asha".into(),
                    email: Some("asha@example.com".parse().unwrap()),
                },
                DirectoryEntry {
                    number: "918071387424".into(),
                    name: "Ravi".into(),
                    email: Some("ravi@example.com".parse().unwrap()),
                },
            ],
            notify_attendees: true,
            opt_out: vec!["Ravi@Example.com".parse().unwrap()],
            ..MailConfig::default()
        };
        let rules = RecipientRules::from_config(&mail).unwrap();
        let numbers = [
            "sip:918071387423@sip.vobiz.ai",
            "918071387424",
            "910000000000",
        ];
        assert_eq!(
            rules.for_conference("Sales Sync", numbers.into_iter()),
            vec!["ops@example.com", "sales@example.com", "asha@example.com"]
        );
        assert_eq!(
            rules.for_conference("Standup", std::iter::empty()),
            vec!["ops@example.com"]
        );
        assert_eq!(rules.directory.name_of("+918071387423"), Some("Asha"));
    }
}
