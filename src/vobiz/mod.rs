//! Everything specific to Vobiz: callback parsing (both shapes), signatures, phone numbers,
//! and downloading recordings.

pub mod callback;
pub mod download;
pub mod phone;
pub mod signature;
pub mod sniff;
