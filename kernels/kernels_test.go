package kernels

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTableMatchesPTX checks that every PTX entry has a description in the kernel table
// and every description names an entry of its module with the same parameter types, so
// that host code packing arguments from the table can never disagree with the PTX.
func TestTableMatchesPTX(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Modules() {
		src, err := Module(m)
		require.NoError(t, err)
		entries, err := Entries(src)
		require.NoError(t, err)
		assert.NotEmpty(t, entries, "module %s has no .entry", m)
		for _, e := range entries {
			seen[e.Name] = true
			k, err := Lookup(e.Name)
			if !assert.NoError(t, err, "module %s: entry %s has no description in the kernel table", m, e.Name) {
				continue
			}
			assert.Equal(t, m, k.Module, "kernel %s: the table's module against the PTX's", e.Name)
			if !assert.Len(t, k.Params, len(e.ParamTypes), "kernel %s: the table's params against the PTX's", e.Name) {
				continue
			}
			for i, p := range k.Params {
				assert.Equal(t, e.ParamTypes[i], p.Kind.PTXType(), "kernel %s param %d (%s %s): the table kind's PTX type against the PTX",
					e.Name, i, p.Kind, p.Name)
			}
		}
	}
	for _, k := range All() {
		assert.True(t, seen[k.Name], "kernel %s is in the table but in no PTX module", k.Name)
		assert.NotEmpty(t, strings.TrimSpace(k.Doc), "kernel %s has no Doc line", k.Name)
		assert.False(t, k.Block.X < 0 || k.Block.Y < 0 || (k.Block.X == 0 && k.Block.Y != 0), "kernel %s: bad block spec %+v", k.Name, k.Block)
	}
}

func TestEntries(t *testing.T) {
	src := `
.visible .entry foo(
	.param .u64 foo_param_0,
	.param .f32 foo_param_1
)
{
	ret;
}
.visible .entry bar()
{
	ret;
}
`
	es, err := Entries(src)
	require.NoError(t, err)
	require.Len(t, es, 2, "Entries = %+v", es)
	require.Equal(t, "foo", es[0].Name, "Entries = %+v", es)
	require.Equal(t, []string{".u64", ".f32"}, es[0].ParamTypes, "Entries = %+v", es)
	require.Equal(t, "bar", es[1].Name, "Entries = %+v", es)
	require.Empty(t, es[1].ParamTypes, "Entries = %+v", es)
}
