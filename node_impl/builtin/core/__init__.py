"""Layer core (lowest): configuration, logging, sqlite storage, the JSON-RPC server and registry, the event bus. Imports nothing of the node."""
