"""Chain backends: embedded regtest chain, real bitcoind, docker."""
