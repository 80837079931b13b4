//! Integration tests of skiff-store: one binary (see `conformance` for the
//! backend-independent suite, `redb` for running it on [`skiff_store::RedbStore`],
//! `crash` for durability under SIGKILL).

mod conformance;
mod crash;
mod redb;
