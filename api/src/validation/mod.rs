//! Validation of names, labels and objects, with field causes.
