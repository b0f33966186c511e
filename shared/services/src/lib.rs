//! The application services above the runtime: the built-in registry (files, revisions,
//! sharing, visibility) and connection administration. The api, the local pipeline and
//! the tests call them; the pipeline functions do not.

pub mod connections;
pub mod registry;
