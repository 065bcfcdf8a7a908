"""lnharness engine: processes, ports, directories, waits, chain helpers. No pytest here."""
