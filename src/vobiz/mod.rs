//! Everything specific to Vobiz: callback parsing (both shapes), signatures, phone numbers,
//! and downloading recordings.

pub mod audio_length;
pub mod callback;
pub mod download;
pub mod phone;
pub mod rest;
pub mod signature;
pub mod sniff;
pub mod transcription;
