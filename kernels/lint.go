package kernels

import (
	"fmt"
	"regexp"
	"strings"
)

// LintIssue is one PTX line that breaks the bit-exact contract.
type LintIssue struct {
	Module string
	Line   int // 1-based line in the .ptx file
	Text   string
	Rule   string
}

func (i LintIssue) String() string {
	return fmt.Sprintf("%s.ptx:%d: %s: %s", i.Module, i.Line, i.Rule, strings.TrimSpace(i.Text))
}

// lintRules are the PTX patterns the contract forbids (DETERMINISM.md, "How it is
// checked"). Each matches an instruction with its optional guard predicate.
var lintRules = []struct {
	rule string
	re   *regexp.Regexp
}{
	// ex2/lg2/rcp/rsqrt/sin/cos/tanh .approx and div/sqrt .approx run on the MUFU,
	// whose exact bits are not published.
	{"approximate instruction (.approx)", regexp.MustCompile(`\.approx\b`)},
	// div.full.f32 is a 2-ulp approximation, not IEEE division.
	{"approximate division (div.full)", regexp.MustCompile(`\bdiv\.full\b`)},
	// .ftz flushes subnormals to zero; the CPU twins keep them.
	{"flush-to-zero modifier (.ftz)", regexp.MustCompile(`\.ftz\b`)},
	// Float atomics make the order of a sum depend on scheduling.
	{"float atomic", regexp.MustCompile(`\b(atom|red)\.[a-z0-9.]*\.(f16|bf16|f16x2|f32|f64)\b`)},
	// Without an explicit rounding modifier ptxas may contract mul+add into fma.
	{"float op without rounding modifier", regexp.MustCompile(`^(add|sub|mul|fma|mad)(\.sat)?\.f(32|64)\b`)},
	// mad.f32 is a legacy fused form; fma.rn is the only allowed fusion.
	{"legacy mad on floats", regexp.MustCompile(`^mad\.[a-z.]*f(32|64)\b`)},
}

var guardRE = regexp.MustCompile(`^@!?%p[0-9]+\s+`)

// Lint returns every line of a PTX module's text that breaks the contract: approximate
// (MUFU) instructions, flush-to-zero, float atomics, float add/sub/mul without an
// explicit rounding mode (which ptxas may fuse), and legacy mad on floats. Comments and
// DWARF sections are skipped.
func Lint(module, ptx string) []LintIssue {
	var issues []LintIssue
	inSection := false
	for i, line := range strings.Split(ptx, "\n") {
		t := strings.TrimSpace(line)
		if j := strings.Index(t, "//"); j >= 0 {
			t = strings.TrimSpace(t[:j])
		}
		if t == "" {
			continue
		}
		if strings.HasPrefix(t, ".section") {
			inSection = true
			continue
		}
		if inSection {
			if t == "}" {
				inSection = false
			}
			continue
		}
		t = guardRE.ReplaceAllString(t, "")
		for _, r := range lintRules {
			if r.re.MatchString(t) {
				issues = append(issues, LintIssue{Module: module, Line: i + 1, Text: line, Rule: r.rule})
			}
		}
	}
	return issues
}
