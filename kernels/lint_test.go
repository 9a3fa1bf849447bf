package kernels

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLintShippedPTX(t *testing.T) {
	mods := Modules()
	require.NotEmpty(t, mods, "no PTX modules embedded")
	for _, m := range mods {
		src, err := Module(m)
		require.NoError(t, err)
		assert.Empty(t, Lint(m, src), "module %s: lint issues", m)
	}
}

// TestLintCatches plants each forbidden form in a line of PTX and checks that Lint
// reports it, and that the allowed forms next to it pass.
func TestLintCatches(t *testing.T) {
	tests := []struct {
		line string
		bad  bool
	}{
		{"ex2.approx.f32 %f2, %f1;", true},
		{"ex2.approx.ftz.f32 %f2, %f1;", true},
		{"rcp.approx.f32 %f2, %f1;", true},
		{"sqrt.approx.f32 %f2, %f1;", true},
		{"div.full.f32 %f3, %f1, %f2;", true},
		{"add.ftz.f32 %f3, %f1, %f2;", true},
		{"atom.global.add.f32 %f1, [%rd1], %f2;", true},
		{"red.global.add.f32 [%rd1], %f2;", true},
		{"add.f32 %f3, %f1, %f2;", true},
		{"@%p1 mul.f32 %f3, %f1, %f2;", true},
		{"@!%p2 sub.f32 %f3, %f1, %f2;", true},
		{"mad.f32 %f4, %f1, %f2, %f3;", true},
		{"add.f64 %fd3, %fd1, %fd2;", true},
		{"add.rn.f32 %f3, %f1, %f2;", false},
		{"mul.rn.f32 %f3, %f1, %f2;", false},
		{"fma.rn.f32 %f4, %f1, %f2, %f3;", false},
		{"div.rn.f32 %f3, %f1, %f2;", false},
		{"sqrt.rn.f32 %f2, %f1;", false},
		{"add.s32 %r3, %r1, %r2;", false},
		{"mad.lo.s32 %r4, %r1, %r2, %r3;", false},
		{"atom.global.add.u32 %r1, [%rd1], 1;", false},
		{"// ex2.approx.f32 in a comment", false},
	}
	for _, tt := range tests {
		got := Lint("t", "\t"+tt.line+"\n")
		assert.Equal(t, tt.bad, len(got) > 0, "Lint(%q) = %v: bad", tt.line, got)
	}
	// DWARF sections hold bytes, not instructions.
	sec := ".section .debug_str\n{\nadd.f32 %f1, %f1, %f1;\n}\n"
	assert.Empty(t, Lint("t", sec), "Lint reported inside a .section")
	got := Lint("m", "\n\tadd.f32 %f3, %f1, %f2;\n")
	if assert.Len(t, got, 1, "issues of one bad line") {
		assert.Equal(t, 2, got[0].Line, "issue line")
		assert.Contains(t, got[0].String(), "m.ptx:2", "issue location")
	}
}
