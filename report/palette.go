package report

import (
	"image/color"
	"math"
	"sync"
)

// PaletteSize is the number of distinct colours Palette has; cluster k >= PaletteSize
// reuses colour k mod PaletteSize.
const PaletteSize = 64

// tableau10 starts the palette: the common qualitative colours, so K=10 plots look as
// people expect.
var tableau10 = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

var (
	paletteOnce sync.Once
	palette     []color.RGBA
)

// Palette returns k colours for clusters 0..k-1 on a white background: the Tableau 10
// colours, then colours picked greedily from a 6x6x6 RGB grid, each the candidate
// farthest (in CIELAB) from all colours already chosen; light colours that would
// vanish on white are never chosen. The sequence is fixed, so a cluster keeps its
// colour across pictures and runs. The first PaletteSize colours are distinct.
func Palette(k int) []color.RGBA {
	paletteOnce.Do(buildPalette)
	out := make([]color.RGBA, max(k, 0))
	for i := range out {
		out[i] = palette[i%PaletteSize]
	}
	return out
}

func buildPalette() {
	type cand struct {
		c   color.RGBA
		lab [3]float64
	}
	var cands []cand
	levels := []uint8{0, 51, 102, 153, 204, 255}
	for _, r := range levels {
		for _, g := range levels {
			for _, b := range levels {
				c := color.RGBA{r, g, b, 255}
				lab := toLab(c)
				if lab[0] > 80 { // too light to see on white
					continue
				}
				cands = append(cands, cand{c, lab})
			}
		}
	}
	chosen := append([]color.RGBA(nil), tableau10...)
	minDist := make([]float64, len(cands))
	for i := range cands {
		minDist[i] = math.Inf(1)
		for _, c := range chosen {
			minDist[i] = math.Min(minDist[i], labDist(cands[i].lab, toLab(c)))
		}
	}
	for len(chosen) < PaletteSize {
		best := -1
		for i := range cands {
			if best < 0 || minDist[i] > minDist[best] {
				best = i
			}
		}
		chosen = append(chosen, cands[best].c)
		for i := range cands {
			minDist[i] = math.Min(minDist[i], labDist(cands[i].lab, cands[best].lab))
		}
	}
	palette = chosen
}

// toLab converts an sRGB colour to CIELAB (D65 white).
func toLab(c color.RGBA) [3]float64 {
	lin := func(u uint8) float64 {
		v := float64(u) / 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	r, g, b := lin(c.R), lin(c.G), lin(c.B)
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

func labDist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}
