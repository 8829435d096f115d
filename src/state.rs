//! What handlers and jobs share: the settings, the database, the store, metrics and the rest,
//! in one object. It sits low in the house, so a handler reaches it without importing the
//! wiring, and a missing piece fails to compile rather than at run time.

use std::sync::Arc;

use crate::access::people::People;
use crate::access::signin::SignIn;
use crate::api::tokens::ApiTokens;
use crate::config::Config;
use crate::db::Database;
use crate::ingest::rules::Rules;
use crate::ops::metrics::Metrics;
use crate::ops::readiness::ReadinessView;
use crate::storage::Store;
use crate::vobiz::signature;
use crate::web::pages::Pages;

/// What every handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Arc<dyn Database>,
    pub store: Arc<dyn Store>,
    pub rules: Rules,
    /// Set when signatures are verified.
    pub signature_keys: Option<signature::Keys>,
    pub metrics: Arc<Metrics>,
    pub tokens: ApiTokens,
    /// Who may sign in, and what each may see.
    pub people: Arc<People>,
    pub signin: SignIn,
    pub pages: Pages,
    /// The latest readiness verdict.
    pub readiness: ReadinessView,
}
