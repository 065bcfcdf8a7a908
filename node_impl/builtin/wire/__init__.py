"""Layer wire: the BOLT 1 codec, TLVs, typed BOLT messages, features, addresses, bech32, BOLT 11. Imports core only."""
