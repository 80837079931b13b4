//! jsonpath (in progress)
