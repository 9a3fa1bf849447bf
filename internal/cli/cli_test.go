package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
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
		if got := Status("tool", "tool:", err, &e); got != tc.status {
			t.Errorf("%q: status %d, want %d (%v)", tc.args, got, tc.status, err)
		}
		if !strings.Contains(e.String(), tc.stderr) {
			t.Errorf("%q: stderr %q lacks %q", tc.args, e.String(), tc.stderr)
		}
		if tc.status == 2 && !strings.Contains(e.String(), "run `tool -h` for the flags") {
			t.Errorf("%q: stderr %q lacks the -h hint", tc.args, e.String())
		}
	}
}

func TestUsage(t *testing.T) {
	base := errors.New("-k: want at least 1")
	if Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
	u := Usage(base)
	if !IsUsage(u) || !errors.Is(u, base) || u.Error() != base.Error() {
		t.Errorf("Usage(%v) = %v: IsUsage %v, Is %v", base, u, IsUsage(u), errors.Is(u, base))
	}
	if w := fmt.Errorf("config: %w", Usagef("-k %d", 0)); !IsUsage(w) || w.Error() != "config: -k 0" {
		t.Errorf("wrapped usage error %v: IsUsage %v", w, IsUsage(w))
	}
	if IsUsage(base) {
		t.Error("a plain error is a usage error")
	}
	if got := Status("tool", "tool:", base, io.Discard); got != 1 {
		t.Errorf("plain error: status %d, want 1", got)
	}
}
