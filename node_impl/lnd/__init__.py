"""LND (lnd and lncli, built from the Go module proxy by `lnharness install lnd`)."""
