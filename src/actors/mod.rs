//! The actors of the daemon (DESIGN.md, "Shape of the code"). Each owns its facts and is
//! reached only by messages.

pub mod store;
