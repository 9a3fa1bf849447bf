package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedUpToDate fails when a generated file differs from what the kernel table
// gives: run `go run ./kernels/cmd/kernelgen` after changing the table.
func TestGeneratedUpToDate(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	files, err := generate(root)
	require.NoError(t, err)
	for _, f := range files {
		have, err := os.ReadFile(f.path)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(have, f.content), "%s is stale: run `go run ./kernels/cmd/kernelgen`", f.path)
	}
}
