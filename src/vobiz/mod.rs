//! Everything specific to Vobiz: callback parsing (both shapes), signatures, phone numbers.

pub mod callback;
pub mod phone;
pub mod signature;
