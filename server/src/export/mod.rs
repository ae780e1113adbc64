//! A plan written for other feature-flag systems: pure functions of (plan,
//! environment), shared by the CLI (`stagegate export …`) and the API.

pub mod flagd;
