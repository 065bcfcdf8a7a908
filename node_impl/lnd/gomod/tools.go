//go:build tools

// Package lndbuild pins the lnd and lncli commands that `lnharness install lnd` builds:
// this module requires lnd and repeats the replace directives of lnd's own go.mod (Go
// applies replace lines only from the main module, so `go install lnd@version` refuses).
package lndbuild

import (
	_ "github.com/lightningnetwork/lnd/cmd/lncli"
	_ "github.com/lightningnetwork/lnd/cmd/lnd"
)
