//! The people who may sign in, from the settings: the mail directory (numbers, names,
//! addresses), `mail.to`, the routes' recipients and `access.admins`, keyed by address.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, EmailAddress};
use crate::db::access::{Scope, Visibility};
use crate::mail::recipients::Directory;

/// One person, as confvault knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// Lower-cased bare address: how people are keyed, in sessions and the audit log.
    pub email: String,
    pub name: Option<String>,
    pub admin: bool,
    /// Normalised numbers of theirs in the directory.
    pub numbers: Vec<String>,
    /// Globs of the conferences routed to them; `mail.to` counts as `*`, as it receives every
    /// summary.
    pub routes: Vec<String>,
}

impl Person {
    pub fn visibility(&self) -> Visibility {
        if self.admin {
            return Visibility::Everything;
        }
        Visibility::Only(Scope {
            numbers: self.numbers.clone(),
            names: self.routes.clone(),
        })
    }
}

/// The bare address of `text` (`Name <a@b>` or `a@b`), lower-cased; `None` if it is not one.
pub fn bare_address(text: &str) -> Option<String> {
    let address: EmailAddress = text.trim().parse().ok()?;
    Some(address.bare())
}

/// Everyone who may sign in.
#[derive(Debug, Clone, Default)]
pub struct People {
    by_email: BTreeMap<String, Person>,
    /// The mail directory they came from: also how the pages name a caller's number.
    directory: Directory,
}

impl People {
    pub fn from_config(config: &Config, directory: &Directory) -> Self {
        let mut people = Self {
            directory: directory.clone(),
            ..Self::default()
        };
        for (number, name, email) in directory.entries() {
            if let Some(email) = email.and_then(bare_address) {
                let person = people.entry(&email);
                person.name.get_or_insert_with(|| name.to_owned());
                person.numbers.push(number.to_owned());
            }
        }
        for address in &config.mail.to {
            people.entry_for(address).routes.push("*".to_owned());
        }
        for route in &config.mail.routes {
            let glob: String = route.conferences.clone().into();
            for address in &route.to {
                people.entry_for(address).routes.push(glob.clone());
            }
        }
        for address in &config.access.admins {
            people.entry_for(address).admin = true;
        }
        for person in people.by_email.values_mut() {
            person.numbers.sort();
            person.numbers.dedup();
            person.routes.sort();
            person.routes.dedup();
        }
        people
    }

    /// The people of `config`; a scoped token must name one of them.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        let directory =
            Directory::load(&config.mail.directory, config.mail.directory_csv.as_deref())?;
        let people = Self::from_config(config, &directory);
        for scoped in &config.api.scoped_tokens {
            anyhow::ensure!(
                people.get(scoped.person.as_str()).is_some(),
                "api.scoped_tokens: {} is not a person confvault knows (the mail directory, \
                 mail.to, a route's recipients or access.admins)",
                scoped.person.as_str()
            );
        }
        if config.access.admins.is_empty() && config.api.tokens.is_empty() {
            tracing::warn!("no access.admins and no api.tokens: nobody can see every conference");
        }
        Ok(people)
    }

    fn entry_for(&mut self, address: &EmailAddress) -> &mut Person {
        let person = self.entry(&address.bare());
        if person.name.is_none() {
            person.name = address.mailbox().name.clone();
        }
        person
    }

    fn entry(&mut self, email: &str) -> &mut Person {
        self.by_email
            .entry(email.to_owned())
            .or_insert_with(|| Person {
                email: email.to_owned(),
                name: None,
                admin: false,
                numbers: Vec::new(),
                routes: Vec::new(),
            })
    }

    /// The person with this address (any spelling of it).
    pub fn get(&self, address: &str) -> Option<&Person> {
        self.by_email.get(&bare_address(address)?)
    }

    pub fn all(&self) -> impl Iterator<Item = &Person> {
        self.by_email.values()
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DirectoryEntry, MailRoute};

    fn people() -> People {
        let mut config = Config::default();
        config.mail.to = vec!["Ops <OPS@example.com>".parse().unwrap()];
        config.mail.routes = vec![MailRoute {
            conferences: "Sales*".to_owned().try_into().unwrap(),
            to: vec!["sales@example.com".parse().unwrap()],
        }];
        config.mail.directory = vec![
            DirectoryEntry {
                number: "+91 80713 87423".into(),
                name: "Asha".into(),
                email: Some("asha@example.com".parse().unwrap()),
            },
            DirectoryEntry {
                number: "918071387424".into(),
                name: "Ravi".into(),
                email: None,
            },
        ];
        config.access.admins = vec!["boss@example.com".parse().unwrap()];
        let directory = Directory::load(&config.mail.directory, None).unwrap();
        People::from_config(&config, &directory)
    }

    #[test]
    fn everyone_with_an_address_in_the_settings_is_a_person_and_only_admins_see_everything() {
        let people = people();
        let emails: Vec<&str> = people.all().map(|p| p.email.as_str()).collect();
        assert_eq!(
            emails,
            [
                "asha@example.com",
                "boss@example.com",
                "ops@example.com",
                "sales@example.com"
            ]
        );
        assert_eq!(
            people.get("Boss@Example.com").unwrap().visibility(),
            Visibility::Everything
        );
        assert_eq!(
            people.get("asha@example.com").unwrap().visibility(),
            Visibility::Only(Scope {
                numbers: vec!["918071387423".into()],
                names: vec![],
            })
        );
        assert_eq!(
            people.get("sales@example.com").unwrap().visibility(),
            Visibility::Only(Scope {
                numbers: vec![],
                names: vec!["Sales*".into()],
            })
        );
        assert_eq!(people.get("ops@example.com").unwrap().routes, ["*"]);
        assert!(people.get("ravi@example.com").is_none());
        assert!(people.get("not an address").is_none());
    }
}
