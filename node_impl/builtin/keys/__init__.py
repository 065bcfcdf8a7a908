"""Layer keys: BOLT 3 key derivation and shachain. Imports wire and core only."""
