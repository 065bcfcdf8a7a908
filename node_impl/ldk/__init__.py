"""LDK: the `lnh-ldkd` daemon (daemon/, Rust on the ldk-node crate), its installer and adapter."""
