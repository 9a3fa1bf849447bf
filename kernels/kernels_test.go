package kernels

import (
	"strings"
	"testing"
)

// TestTableMatchesPTX checks that every PTX entry has a description in the kernel table
// and every description names an entry of its module with the same parameter types, so
// that host code packing arguments from the table can never disagree with the PTX.
func TestTableMatchesPTX(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Modules() {
		src, err := Module(m)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := Entries(src)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("module %s has no .entry", m)
		}
		for _, e := range entries {
			seen[e.Name] = true
			k, err := Lookup(e.Name)
			if err != nil {
				t.Errorf("module %s: entry %s has no description in the kernel table", m, e.Name)
				continue
			}
			if k.Module != m {
				t.Errorf("kernel %s: table says module %q, PTX has it in %q", e.Name, k.Module, m)
			}
			if len(k.Params) != len(e.ParamTypes) {
				t.Errorf("kernel %s: table has %d params, PTX has %d", e.Name, len(k.Params), len(e.ParamTypes))
				continue
			}
			for i, p := range k.Params {
				if p.Kind.PTXType() != e.ParamTypes[i] {
					t.Errorf("kernel %s param %d (%s %s): PTX type %s, table kind wants %s",
						e.Name, i, p.Kind, p.Name, e.ParamTypes[i], p.Kind.PTXType())
				}
			}
		}
	}
	for _, k := range All() {
		if !seen[k.Name] {
			t.Errorf("kernel %s is in the table but in no PTX module", k.Name)
		}
		if strings.TrimSpace(k.Doc) == "" {
			t.Errorf("kernel %s has no Doc line", k.Name)
		}
		if k.Block.X < 0 || k.Block.Y < 0 || (k.Block.X == 0 && k.Block.Y != 0) {
			t.Errorf("kernel %s: bad block spec %+v", k.Name, k.Block)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Name != "foo" || strings.Join(es[0].ParamTypes, ",") != ".u64,.f32" ||
		es[1].Name != "bar" || len(es[1].ParamTypes) != 0 {
		t.Fatalf("Entries = %+v", es)
	}
}
