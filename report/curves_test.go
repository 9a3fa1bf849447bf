package report

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPaletteDistinct(t *testing.T) {
	p := Palette(PaletteSize)
	require.Len(t, p, PaletteSize)
	require.Equal(t, tableau10, p[:10], "K=10 gets the usual colours")
	// Every pair at least 15 CIELAB units apart (over 6 just-noticeable differences
	// on a 2.3-unit JND), and none too light for a white background.
	minD := math.Inf(1)
	for i := range p {
		require.Equal(t, uint8(255), p[i].A)
		require.LessOrEqual(t, toLab(p[i])[0], 80.0, "colour %d too light", i)
		for j := range i {
			minD = math.Min(minD, labDist(toLab(p[i]), toLab(p[j])))
		}
	}
	require.Greater(t, minD, 15.0)
	t.Logf("smallest CIELAB distance among %d colours: %.1f", PaletteSize, minD)

	require.Empty(t, Palette(0))
	require.Empty(t, Palette(-3))
	require.Equal(t, p[:1], Palette(1))
	require.Equal(t, p[0], Palette(PaletteSize + 1)[PaletteSize], "cycles past PaletteSize")
}

func ramp(n int, f func(i int) float64) Series {
	s := Series{X: make([]float64, n), Y: make([]float64, n)}
	for i := range n {
		s.X[i], s.Y[i] = float64(i+1), f(i)
	}
	return s
}

func TestCurves(t *testing.T) {
	dir := t.TempDir()
	loss := ramp(100, func(i int) float64 { return 200 * math.Exp(-float64(i)/20) })
	loss.Name = "train.loss"
	test := ramp(100, func(i int) float64 { return 210*math.Exp(-float64(i)/20) + 5 })
	test.Name = "test.loss"
	test.Y[40], test.Y[41], test.Y[70] = math.NaN(), math.Inf(1), math.NaN()
	empty := Series{Name: "empty"}
	allNaN := Series{Name: "all NaN", X: []float64{1, 2}, Y: []float64{math.NaN(), math.NaN()}}
	lone := Series{Name: "lone point", X: []float64{50}, Y: []float64{100}}

	path := filepath.Join(dir, "one.png")
	require.NoError(t, Curves(path, loss, test, empty, allNaN, lone))
	require.Equal(t, image.Rect(0, 0, CurvesWidth, CurvesPanelHeight), decodePNG(t, path).Bounds())

	path = filepath.Join(dir, "two.png")
	require.NoError(t, CurvesPanels(path,
		Panel{Title: "loss", XLabel: "epoch", YLabel: "nats", Series: []Series{loss, test}},
		Panel{Title: "nothing", XLabel: "epoch"}))
	require.Equal(t, image.Rect(0, 0, CurvesWidth, 2*CurvesPanelHeight), decodePNG(t, path).Bounds())

	// No series, or only empty ones: still a picture.
	path = filepath.Join(dir, "none.png")
	require.NoError(t, Curves(path))
	require.Equal(t, image.Rect(0, 0, CurvesWidth, CurvesPanelHeight), decodePNG(t, path).Bounds())
	require.NoError(t, Curves(path, empty))
	require.Error(t, CurvesPanels(path))

	// Gaps: 3 non-finite points break test.loss into 3 runs.
	segs, finite, skipped := segments(test)
	require.Len(t, segs, 3)
	require.Equal(t, 97, finite)
	require.Equal(t, 3, skipped)
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
}

func TestCurvesFromMetrics(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for e := 1; e <= 30; e++ {
		l := 200 * math.Exp(-float64(e)/10)
		acc := 1 - 0.8*math.Exp(-float64(e)/8)
		switch {
		case e == 5: // nested form, and a null
			lines = append(lines, fmt.Sprintf(`{"epoch":%d,"train":{"loss":%g,"recon":%g},"test":{"elbo":%g},"acc_paper":null,"nmi":%g}`,
				e, l+10, l, -l-12, acc-0.1))
		case e == 9: // NaN written as text, a field missing (ari), strings ignored
			lines = append(lines, fmt.Sprintf(`{"epoch":%d,"train.loss":"NaN","test.elbo":%g,"acc_paper":%g,"acc_hungarian":%g,"nmi":%g,"run":"x"}`,
				e, -l-12, acc, acc-0.05, acc-0.1))
		default:
			lines = append(lines, fmt.Sprintf(`{"epoch":%d,"train.loss":%g,"train.recon":%g,"test.elbo":%g,"acc_paper":%g,"acc_purity":%g,"acc_hungarian":%g,"nmi":%g,"ari":%g,"usage":[1,2,3],"lr":0.001}`,
				e, l+10, l, -l-12, acc, acc-0.02, acc-0.05, acc-0.1, acc-0.15))
		}
	}
	jsonl := filepath.Join(dir, "metrics.jsonl")
	writeLines(t, jsonl, append(lines, `{"epoch":31,"train.lo`)...) // a line being written
	out := filepath.Join(dir, "plots")
	require.NoError(t, CurvesFromMetrics(jsonl, out))
	for _, name := range []string{"loss.png", "accuracy.png"} {
		require.Equal(t, image.Rect(0, 0, CurvesWidth, CurvesPanelHeight),
			decodePNG(t, filepath.Join(out, name)).Bounds(), name)
	}

	recs, err := readMetrics(jsonl)
	require.NoError(t, err)
	require.Len(t, recs, 30)
	require.Equal(t, 200*math.Exp(-0.5)+10, recs[4]["train.loss"], "nested objects flatten to dotted keys")
	require.True(t, math.IsNaN(recs[4]["acc_paper"]), "null is NaN")
	require.True(t, math.IsNaN(recs[8]["train.loss"]), `"NaN" is NaN`)
	require.NotContains(t, recs[8], "ari")
	require.NotContains(t, recs[8], "run")

	// Only epochs and nothing to plot; no epoch field at all: still both pictures.
	writeLines(t, jsonl, `{"epoch":1}`, `{"epoch":2}`)
	require.NoError(t, CurvesFromMetrics(jsonl, out))
	writeLines(t, jsonl, `{"train.loss":3}`, `{"train.loss":2}`, ``)
	require.NoError(t, CurvesFromMetrics(jsonl, out))
	writeLines(t, jsonl)
	require.NoError(t, CurvesFromMetrics(jsonl, out))

	// A malformed line in the middle is an error, with its line number.
	writeLines(t, jsonl, `{"epoch":1}`, `{epoch:2}`, `{"epoch":3}`)
	err = CurvesFromMetrics(jsonl, out)
	require.ErrorContains(t, err, "metrics.jsonl:2")
	require.Error(t, CurvesFromMetrics(filepath.Join(dir, "missing.jsonl"), out))
}
