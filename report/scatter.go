package report

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Size of Scatter2D pictures in pixels (96 dpi): a square chart plus a legend strip.
const (
	ScatterWidth  = 800
	ScatterHeight = 680
)

// OtherColor is the colour of points whose label is outside [0, k).
var OtherColor = color.RGBA{170, 170, 170, 255}

// ScatterOptions tunes Scatter2DWith. The zero value is Scatter2D's picture.
type ScatterOptions struct {
	Title          string // default "latent means, first two principal components"
	XLabel, YLabel string // default "PC1", "PC2"
}

// Scatter2D writes a PNG scatter plot of points (for example PCA2 of the (n, D_z)
// latent means), point i coloured by cluster labels[i] in [0, k) with Palette(k); a
// label outside [0, k) is drawn in OtherColor; labels may be nil (one colour).
// Points are drawn in input order, so no cluster systematically hides another.
// Non-finite points are skipped and counted in the title. Up to 32 clusters get a
// legend entry each.
func Scatter2D(path string, points [][2]float64, labels []int, k int) error {
	return Scatter2DWith(path, points, labels, k, ScatterOptions{})
}

// Scatter2DWith is Scatter2D with a chosen title and axis labels.
func Scatter2DWith(path string, points [][2]float64, labels []int, k int, opt ScatterOptions) error {
	if labels != nil && len(labels) != len(points) {
		return fmt.Errorf("report: scatter %s: %d labels for %d points", path, len(labels), len(points))
	}
	if opt.Title == "" {
		opt.Title = "latent means, first two principal components"
	}
	if opt.XLabel == "" {
		opt.XLabel = "PC1"
	}
	if opt.YLabel == "" {
		opt.YLabel = "PC2"
	}
	k = max(k, 1)
	colors := Palette(k)

	var xys plotter.XYs
	var cls []int
	skipped := 0
	for i, p := range points {
		if !isFinite(p[0]) || !isFinite(p[1]) {
			skipped++
			continue
		}
		xys = append(xys, plotter.XY{X: p[0], Y: p[1]})
		l := 0
		if labels != nil {
			l = labels[i]
		}
		cls = append(cls, l)
	}
	radius := vg.Points(2)
	if len(xys) > 3000 {
		radius = vg.Points(1.2)
	}
	glyph := func(l int) draw.GlyphStyle {
		c := OtherColor
		if l >= 0 && l < k {
			c = colors[l]
		}
		return draw.GlyphStyle{Color: c, Radius: radius, Shape: draw.CircleGlyph{}}
	}

	p := plot.New()
	p.Title.Padding = vg.Points(6)
	p.Title.Text = fmt.Sprintf("%s (n=%d, K=%d)", opt.Title, len(xys), k)
	if skipped > 0 {
		p.Title.Text += fmt.Sprintf(", %d non-finite skipped", skipped)
	}
	p.X.Label.Text = opt.XLabel
	p.Y.Label.Text = opt.YLabel
	p.Add(plotter.NewGrid())
	if len(xys) > 0 {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("report: scatter %s: %w", path, err)
		}
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle { return glyph(cls[i]) }
		p.Add(sc)
	} else {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -1, 1, -1, 1
	}

	leg := plot.NewLegend()
	leg.Top = true
	if k <= 32 { // more entries would not fit the picture's height
		counts := make([]int, k)
		other := 0
		for _, l := range cls {
			if l >= 0 && l < k {
				counts[l]++
			} else {
				other++
			}
		}
		for c := range k {
			leg.Add(strconv.Itoa(c)+" ("+strconv.Itoa(counts[c])+")", legendGlyph(glyph(c)))
		}
		if other > 0 {
			leg.Add("other ("+strconv.Itoa(other)+")", legendGlyph(glyph(-1)))
		}
	}

	pxToLen := func(px int) vg.Length { return vg.Length(px) * vg.Inch / curvesDPI }
	cv := vgimg.NewWith(vgimg.UseWH(pxToLen(ScatterWidth), pxToLen(ScatterHeight)),
		vgimg.UseDPI(curvesDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.Crop(draw.New(cv), vg.Points(4), -vg.Points(4), vg.Points(2), -vg.Points(6))
	if k <= 32 {
		legW := pxToLen(ScatterWidth - ScatterHeight)
		p.Draw(draw.Crop(dc, 0, -legW, 0, 0))
		leg.YOffs = -vg.Points(24)
		leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-legW, 0, 0, 0))
	} else {
		p.Draw(dc) // no legend: the chart takes the whole width
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, cv.Image()); err != nil {
		return fmt.Errorf("report: scatter %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// legendGlyph is a legend thumbnail: one glyph in the thumbnail's centre.
type legendGlyph draw.GlyphStyle

func (g legendGlyph) Thumbnail(c *draw.Canvas) {
	st := draw.GlyphStyle(g)
	st.Radius = vg.Points(3)
	c.DrawGlyph(st, c.Center())
}
