"""Layer chain: the chain client, the block watcher and the on-chain wallet. Imports net and the layers below only."""
