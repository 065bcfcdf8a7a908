"""The built-in Lightning node: pure Python, real BOLT protocol."""
