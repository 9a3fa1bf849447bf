package kernels

import (
	"fmt"
	"regexp"
	"strings"
)

// Entry is one kernel entry point as declared in a PTX module.
type Entry struct {
	Name       string
	ParamTypes []string // PTX .param types in order, e.g. ".u64", ".f32"
}

var (
	entryRE = regexp.MustCompile(`^\.(visible|weak)?\s*\.entry\s+([A-Za-z_$][A-Za-z0-9_$]*)\s*\(?`)
	paramRE = regexp.MustCompile(`^\.param\s+(\.[a-z0-9]+)\s+`)
)

// Entries returns the .entry declarations of a PTX module's text, in order, with
// their parameter types.
func Entries(ptx string) ([]Entry, error) {
	var out []Entry
	lines := strings.Split(ptx, "\n")
	for i := 0; i < len(lines); i++ {
		m := entryRE.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		e := Entry{Name: m[2]}
		if strings.Contains(lines[i], ")") { // "name()" : no parameters
			out = append(out, e)
			continue
		}
		// Parameters follow, one per line, until the closing parenthesis.
		for i++; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if t == "(" || t == "" {
				continue
			}
			if strings.HasPrefix(t, ")") {
				break
			}
			p := paramRE.FindStringSubmatch(t)
			if p == nil {
				return nil, fmt.Errorf("kernels: entry %s: unexpected line %d in parameter list: %q", e.Name, i+1, t)
			}
			e.ParamTypes = append(e.ParamTypes, p[1])
		}
		out = append(out, e)
	}
	return out, nil
}
