package report

import (
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// blobs returns k Gaussian blobs of m points each in d dimensions (float32, row
// major), centred on the vertices of a scaled simplex, and their labels.
func blobs(k, m, d int, seed uint64) ([]float32, []int) {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, 0, k*m*d)
	var labels []int
	for c := range k {
		for range m {
			for j := range d {
				centre := 0.0
				if j == c%d {
					centre = 6
				}
				if j == (c/d)%d && c >= d {
					centre -= 4
				}
				x = append(x, float32(centre+r.NormFloat64()))
			}
			labels = append(labels, c)
		}
	}
	return x, labels
}

func TestScatter2D(t *testing.T) {
	dir := t.TempDir()
	const k, m, d = 10, 200, 16
	x, labels := blobs(k, m, d, 1)
	pts := PCA2(x, k*m, d)
	pts[3] = [2]float64{math.NaN(), 1}
	pts[4] = [2]float64{math.Inf(-1), 1}
	labels[5] = -1 // "other"
	labels[6] = k
	path := filepath.Join(dir, "latent.png")
	require.NoError(t, Scatter2D(path, pts, labels, k))
	img := decodePNG(t, path)
	require.Equal(t, image.Rect(0, 0, ScatterWidth, ScatterHeight), img.Bounds())
	// Every cluster's colour appears (glyph centres are drawn unblended).
	seen := map[[3]uint8]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgba(img, x, y)
			seen[[3]uint8{c.R, c.G, c.B}] = true
		}
	}
	for i, c := range Palette(k) {
		require.True(t, seen[[3]uint8{c.R, c.G, c.B}], "cluster %d colour %v missing", i, c)
	}
	require.True(t, seen[[3]uint8{OtherColor.R, OtherColor.G, OtherColor.B}])
}

func TestScatter2DEdgeCases(t *testing.T) {
	dir := t.TempDir()
	pts64 := make([][2]float64, 640)
	labels64 := make([]int, 640)
	for i := range pts64 {
		a := 2 * math.Pi * float64(i) / 640
		pts64[i] = [2]float64{math.Cos(a), math.Sin(a)}
		labels64[i] = i / 10
	}
	cases := []struct {
		name   string
		pts    [][2]float64
		labels []int
		k      int
	}{
		{"K=1", [][2]float64{{0, 0}, {1, 2}, {3, 1}}, []int{0, 0, 0}, 1},
		{"nil labels", [][2]float64{{0, 0}, {1, 2}}, nil, 10},
		{"empty", nil, nil, 10},
		{"all NaN", [][2]float64{{math.NaN(), math.NaN()}}, []int{0}, 3},
		{"one point", [][2]float64{{5, 5}}, []int{0}, 2},
		{"K=64", pts64, labels64, 64},
		{"K=0", [][2]float64{{0, 0}}, []int{0}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".png")
			require.NoError(t, Scatter2D(path, c.pts, c.labels, c.k))
			require.Equal(t, image.Rect(0, 0, ScatterWidth, ScatterHeight), decodePNG(t, path).Bounds())
		})
	}
	require.Error(t, Scatter2D(filepath.Join(dir, "x.png"), [][2]float64{{0, 0}}, []int{0, 1}, 2))
}

func TestPCA2Line(t *testing.T) {
	// Points on a line in 3-D through c with direction u, plus tiny noise: the first
	// component is ±u (sign: largest entry positive), coordinates are the positions
	// along the line (minus their mean), the second coordinate is ~0.
	u := [3]float64{2, -3, 6} // norm 7
	for i := range u {
		u[i] /= 7
	}
	c := [3]float64{1, 5, -2}
	const n = 101
	x := make([]float32, 0, 3*n)
	ts := make([]float64, n)
	mean := 0.0
	r := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		ts[i] = float64(i)/10 - 3 + 0.5*math.Sin(float64(i))
		mean += ts[i] / n
		for j := range 3 {
			x = append(x, float32(c[j]+ts[i]*u[j]+1e-4*r.NormFloat64()))
		}
	}
	pts := PCA2(x, n, 3)
	// The largest-magnitude entry of u (6/7) is positive, so v1 = +u.
	for i := range n {
		require.InDelta(t, ts[i]-mean, pts[i][0], 1e-3, "point %d", i)
		require.InDelta(t, 0, pts[i][1], 1e-3, "point %d", i)
	}
	// Reversed direction in the data gives the same sign convention.
	neg := make([]float32, len(x))
	for i := range x {
		neg[i] = -x[i]
	}
	pneg := PCA2(neg, n, 3)
	for i := range n {
		require.InDelta(t, -(ts[i] - mean), pneg[i][0], 1e-3)
	}
	// Deterministic to the bit.
	require.Equal(t, pts, PCA2(x, n, 3))
}

func TestPCA2Ellipse(t *testing.T) {
	// Axis-aligned ellipse in 4-D with variances 25 (dim 2), 4 (dim 0), 1, 0.25:
	// components e2 and e0, so the coordinates are x2 - mean, x0 - mean.
	const n = 400
	x := make([]float32, 0, 4*n)
	for i := range n {
		a := 2 * math.Pi * float64(i) / n
		x = append(x, float32(2*math.Cos(3*a)), float32(math.Sin(5*a)),
			float32(5*math.Sin(a)), float32(0.5*math.Cos(7*a)))
	}
	m0, m2 := 0.0, 0.0
	for i := range n {
		m0 += float64(x[4*i]) / n
		m2 += float64(x[4*i+2]) / n
	}
	pts := PCA2(x, n, 4)
	for i := range n {
		require.InDelta(t, float64(x[4*i+2])-m2, pts[i][0], 1e-6)
		require.InDelta(t, float64(x[4*i])-m0, pts[i][1], 1e-6)
	}
}

func TestPCA2EdgeCases(t *testing.T) {
	require.Empty(t, PCA2(nil, 0, 5))
	// d == 1: second coordinate 0.
	pts := PCA2([]float32{1, 2, 4}, 3, 1)
	for i, want := range []float64{-4.0 / 3, -1.0 / 3, 5.0 / 3} {
		require.InDelta(t, want, pts[i][0], 1e-12)
		require.Equal(t, 0.0, pts[i][1])
	}
	// Constant data: all zeros.
	for _, p := range PCA2([]float32{3, 3, 3, 3, 3, 3}, 3, 2) {
		require.Equal(t, [2]float64{0, 0}, p)
	}
	// A NaN row gets a NaN point and does not disturb the others.
	nan := float32(math.NaN())
	pts = PCA2([]float32{0, 0, nan, 1, 1, 0, 2, 0}, 4, 2)
	require.True(t, math.IsNaN(pts[1][0]) && math.IsNaN(pts[1][1]))
	require.InDelta(t, -1, pts[0][0], 1e-12)
	require.InDelta(t, 0, pts[2][0], 1e-12)
	require.InDelta(t, 1, pts[3][0], 1e-12)
	// All rows bad.
	pts = PCA2([]float32{nan, 1}, 1, 2)
	require.True(t, math.IsNaN(pts[0][0]))
	// d == 0.
	require.Equal(t, [][2]float64{{0, 0}, {0, 0}}, PCA2(nil, 2, 0))
	require.Panics(t, func() { PCA2(make([]float32, 5), 2, 3) })
}
