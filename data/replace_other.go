//go:build !linux

package data

import "errors"

// exchange would swap a and b atomically; elsewhere swapIn falls back to two renames.
func exchange(a, b string) error { return errors.ErrUnsupported }
