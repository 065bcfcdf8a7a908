"""Layer rpc (top): one module per group of JSON-RPC methods, and params.py, the one set of parameter parsers. Imports any layer below."""
