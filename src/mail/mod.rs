//! Meeting summaries and operator alerts: who gets them, what they say, how they are sent.

pub mod recipients;
pub mod summary;
pub mod templates;
pub mod transport;
