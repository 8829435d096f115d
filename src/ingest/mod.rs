//! Callback routes and the rules that turn Vobiz events into conference state.

pub mod end_sweeper;
pub mod routes;
pub mod rules;
