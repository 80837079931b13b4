//! One module per subcommand.

pub mod agent;
pub mod kubectl;
pub mod run;
pub mod server;
pub mod up;
