package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
)

var keygenCmd = command{
	name: "keygen", args: "[--bytes N]", what: "a new site secret, as hex (--bytes 32 for PPTER_STATE_KEY)",
	flags: []string{"bytes"},
	run: func(_ context.Context, o *opts, stdout, _ io.Writer) error {
		if o.bytes < 16 || o.bytes > 64 {
			return usagef("--bytes must be 16 to 64")
		}
		b := make([]byte, o.bytes)
		rand.Read(b) // never fails (crypto/rand since Go 1.24)
		_, err := fmt.Fprintln(stdout, hex.EncodeToString(b))
		return err
	},
}
