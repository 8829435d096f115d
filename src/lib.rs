//! confvault: a self-hosted archive for Vobiz conference calls.

pub mod access;
pub mod account;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod failure;
pub mod ingest;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod operator;
pub mod ops;
pub mod progress;
pub mod roster;
pub mod routes;
pub mod search;
pub mod state;
pub mod storage;
pub mod time;
pub mod vobiz;
pub mod web;
pub mod webhooks;
