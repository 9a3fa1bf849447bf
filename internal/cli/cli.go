// Package cli holds what the commands (cmd/...) share about their command lines: the
// usage error, flag parsing that tells usage errors from -h, and exit statuses.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// usageError marks a bad flag or argument.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Usage marks err as a usage error (a bad flag or argument: exit status 2). It
// returns nil for nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// Usagef is Usage(fmt.Errorf(format, a...)).
func Usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// IsUsage reports whether err is, or wraps, a usage error.
func IsUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

// Parse parses args into fs. A bad flag and a positional argument are usage errors;
// -h and -help return flag.ErrHelp (fs has printed the usage).
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Usage(err)
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q (flags only)", fs.Arg(0))
	}
	return nil
}

// Status prints err to stderr after prefix and returns the command's exit status:
// 0 for nil and flag.ErrHelp, 2 for a usage error (with a hint to run `cmd -h`), 1
// for any other error.
func Status(cmd, prefix string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case IsUsage(err):
		fmt.Fprintln(stderr, prefix, err)
		fmt.Fprintf(stderr, "run `%s -h` for the flags\n", cmd)
		return 2
	}
	fmt.Fprintln(stderr, prefix, err)
	return 1
}
