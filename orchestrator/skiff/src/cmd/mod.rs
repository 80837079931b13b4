//! One module per subcommand.

pub mod kubectl;
pub mod run;
pub mod server;
