//! The application services above the runtime: the built-in registry (files, revisions,
//! sharing, visibility), connection administration, platform administration (accounts,
//! levels, tags, clearances, the audit log) and the declarative platform file. The api,
//! the local pipeline and the tests call them; the pipeline functions do not.

pub mod connections;
pub mod platform;
pub mod platform_file;
pub mod registry;
