"""Every kind of node lnharness can run: chain backends and Lightning implementations."""
