//! openapi (in progress)
