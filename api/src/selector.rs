//! selector (in progress)
