"""Small real programs built on lnharness."""
