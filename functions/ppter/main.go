// Command ppter is the Function Compute 3 function (runtime go1, handler main). It records
// each office's address, answers with its peers' addresses, and keeps the cloud in line.
//
// Its configuration is read once at start: $PPTER_CONFIG, else ppter.yaml beside the
// binary, else the embedded example (memory store, local runs only).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/ppter/ppter/functions/internal/app"
)

func main() {
	a, err := setup(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, `{"level":"ERROR","msg":"ppter cannot start","err":%q}`+"\n", err.Error())
		os.Exit(2)
	}
	fc.Start(a.Handle)
}

func setup(ctx context.Context) (*app.App, error) {
	dir := "."
	if exe, err := os.Executable(); err == nil {
		dir = filepath.Dir(exe)
	}
	return app.New(ctx, os.LookupEnv, os.ReadFile, dir, os.Stdout)
}
