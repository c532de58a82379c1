//! DNS A records, idempotent.
