//! The whole history: every blob reachable from every ref, each scanned once.
