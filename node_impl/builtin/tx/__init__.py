"""Layer tx: scripts, BOLT 3 transactions, signing, our own sweeps. Imports keys, wire, core only."""
