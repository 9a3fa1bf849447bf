package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseAndStatus(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{nil, 0, ""},
		{[]string{"-n", "3"}, 0, ""},
		{[]string{"-h"}, 0, "Usage"},
		{[]string{"-n", "x"}, 2, "invalid value \"x\" for flag -n"},
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"-n", "3", "extra"}, 2, `unexpected argument "extra" (flags only)`},
	} {
		var e bytes.Buffer
		fs := flag.NewFlagSet("tool", flag.ContinueOnError)
		fs.SetOutput(&e)
		fs.Int("n", 1, "a number")
		fs.Usage = func() { fmt.Fprintln(&e, "Usage: tool") }
		err := Parse(fs, tc.args)
		assert.Equal(t, tc.status, Status("tool", "tool:", err, &e), "%q: status (%v)", tc.args, err)
		assert.Contains(t, e.String(), tc.stderr, "%q: stderr", tc.args)
		if tc.status == 2 {
			assert.Contains(t, e.String(), "run `tool -h` for the flags", "%q: stderr lacks the -h hint", tc.args)
		}
	}
}

func TestUsage(t *testing.T) {
	base := errors.New("-k: want at least 1")
	assert.NoError(t, Usage(nil), "Usage(nil) is not nil")
	u := Usage(base)
	assert.True(t, IsUsage(u), "Usage(%v) = %v: IsUsage", base, u)
	assert.ErrorIs(t, u, base, "Usage(%v)", base)
	assert.EqualError(t, u, base.Error(), "Usage(%v)", base)
	w := fmt.Errorf("config: %w", Usagef("-k %d", 0))
	assert.True(t, IsUsage(w), "wrapped usage error %v: IsUsage", w)
	assert.EqualError(t, w, "config: -k 0", "wrapped usage error")
	assert.False(t, IsUsage(base), "a plain error is a usage error")
	assert.Equal(t, 1, Status("tool", "tool:", base, io.Discard), "plain error: status")
}
