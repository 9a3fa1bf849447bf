// Package field is the error of an invalid setting in the engine's JSON configurations
// (a run folder's config.json: {"model": {...}, "train": {...}}), which a command line
// can translate into the flag that set it.
package field

import "fmt"

// Error is an invalid setting: its section ("model", "train") and key as the JSON
// configuration names them, its value, and what is wanted.
type Error struct {
	Section, Key string
	Value        any
	Want         string
}

// Error implements error: "train.lr = -1: want a positive number".
func (e *Error) Error() string {
	return fmt.Sprintf("%s.%s = %v: %s", e.Section, e.Key, e.Value, e.Want)
}

// New returns an *Error; want is formatted with a.
func New(section, key string, value any, want string, a ...any) error {
	return &Error{Section: section, Key: key, Value: value, Want: fmt.Sprintf(want, a...)}
}
