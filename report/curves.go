package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one named curve: Y[i] at X[i] (points past the shorter slice are
// ignored). Non-finite points (NaN, ±Inf) are not drawn: the line breaks there and
// the legend says how many were left out.
type Series struct {
	Name string
	X, Y []float64
}

// Panel is one chart of a curves picture.
type Panel struct {
	Title, XLabel, YLabel string
	Series                []Series
}

// Size of curve pictures: 96 dpi, so a panel is CurvesWidth x CurvesPanelHeight
// pixels.
const (
	CurvesWidth       = 768
	CurvesPanelHeight = 432
	curvesDPI         = 96
)

// Curves writes a PNG of one panel of lines over epochs (x label "epoch"), one colour
// per series (Palette order) and a legend on the right.
func Curves(path string, series ...Series) error {
	return CurvesPanels(path, Panel{XLabel: "epoch", Series: series})
}

// CurvesPanels writes a PNG of panels stacked top to bottom, each CurvesWidth x
// CurvesPanelHeight pixels. A panel with no finite point says "(no data)" in its title.
func CurvesPanels(path string, panels ...Panel) error {
	if len(panels) == 0 {
		return fmt.Errorf("report: curves %s: no panels", path)
	}
	pxToLen := func(px int) vg.Length { return vg.Length(px) * vg.Inch / curvesDPI }
	c := vgimg.NewWith(vgimg.UseWH(pxToLen(CurvesWidth), pxToLen(CurvesPanelHeight*len(panels))),
		vgimg.UseDPI(curvesDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	for i, pn := range panels {
		// Panel i occupies the i-th band from the top.
		h := dc.Max.Y - dc.Min.Y
		band := draw.Crop(dc, 0, 0,
			h*vg.Length(len(panels)-1-i)/vg.Length(len(panels)),
			-h*vg.Length(i)/vg.Length(len(panels)))
		if err := drawPanel(band, pn); err != nil {
			return fmt.Errorf("report: curves %s: panel %q: %w", path, pn.Title, err)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, c.Image()); err != nil {
		return fmt.Errorf("report: curves %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func drawPanel(dc draw.Canvas, pn Panel) error {
	p := plot.New()
	p.Title.Text = pn.Title
	p.Title.Padding = vg.Points(6)
	dc = draw.Crop(dc, vg.Points(4), -vg.Points(4), vg.Points(2), -vg.Points(6)) // margins
	p.X.Label.Text = pn.XLabel
	p.Y.Label.Text = pn.YLabel
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top = true
	colors := Palette(len(pn.Series))
	points := 0
	for i, s := range pn.Series {
		segs, finite, skipped := segments(s)
		points += finite
		name := s.Name
		if skipped > 0 {
			name = fmt.Sprintf("%s (%d non-finite)", name, skipped)
		}
		style := draw.LineStyle{Color: colors[i], Width: vg.Points(1.5)}
		var thumb plot.Thumbnailer
		for _, seg := range segs {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return err
			}
			l.LineStyle = style
			p.Add(l)
			thumb = l
			// Few points, or a lone point between gaps: mark each point too.
			if finite <= 60 || len(seg) == 1 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: colors[i], Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
				p.Add(sc)
			}
		}
		if thumb == nil { // no finite point: keep the legend entry, as a plain line
			thumb = &plotter.Line{LineStyle: style}
		}
		leg.Add(name, thumb)
	}
	if points == 0 {
		p.Title.Text = strings.TrimSpace(p.Title.Text + " (no data)")
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	}
	// The legend sits in a strip right of the chart so it never hides a curve.
	if len(pn.Series) > 0 {
		r := leg.Rectangle(dc)
		w := r.Max.X - r.Min.X + vg.Points(12)
		if w > (dc.Max.X-dc.Min.X)/2 {
			w = (dc.Max.X - dc.Min.X) / 2
		}
		leg.YOffs = -vg.Points(24)
		p.Draw(draw.Crop(dc, 0, -w, 0, 0))
		leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-w, 0, 0, 0))
	} else {
		p.Draw(dc)
	}
	return nil
}

// segments splits s at non-finite points into runs of finite points.
func segments(s Series) (segs []plotter.XYs, finite, skipped int) {
	n := min(len(s.X), len(s.Y))
	var cur plotter.XYs
	for i := range n {
		x, y := s.X[i], s.Y[i]
		if !isFinite(x) || !isFinite(y) {
			skipped++
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: x, Y: y})
		finite++
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs, finite, skipped
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// accuracyKeys are the clustering scores CurvesFromMetrics puts on accuracy.png, in
// legend order (matched on the last dotted segment of a field, so "test.nmi" counts).
var accuracyKeys = []string{"acc_paper", "acc_paper_f32", "acc_purity", "acc_hungarian", "acc", "nmi", "ari"}

// lossWords select the fields CurvesFromMetrics puts on loss.png.
var lossWords = []string{"loss", "elbo", "nll", "recon", "kl"}

// CurvesFromMetrics reads a metrics.jsonl (one JSON object per line, as the trainer
// writes one per epoch) and writes outDir/loss.png and outDir/accuracy.png.
//
// Nested objects are flattened with dots ({"train":{"loss":1}} is "train.loss", the
// same as a literal "train.loss" key). The x value is the "epoch" field (else the line
// number, from 1). accuracy.png plots the fields whose last segment is one of
// acc_paper, acc_paper_f32, acc_purity, acc_hungarian, acc, nmi, ari; loss.png the other fields whose
// name contains loss, elbo, nll, recon or kl (train.* first, then test.*, then the
// rest, alphabetically within each). An ELBO field whose values are all negative is
// plotted negated, named "-name", so it shares the scale of the losses. Other fields
// are ignored; a field missing from a line leaves a gap; null, "NaN", "Inf" and
// "-Inf" values are non-finite points. A malformed last line (a run still writing
// it) is skipped; a malformed line elsewhere is an error.
func CurvesFromMetrics(jsonlPath, outDir string) error {
	recs, err := readMetrics(jsonlPath)
	if err != nil {
		return err
	}
	xs := make([]float64, len(recs))
	keys := map[string]bool{}
	for i, r := range recs {
		xs[i] = float64(i + 1)
		if e, ok := r["epoch"]; ok && isFinite(e) {
			xs[i] = e
		}
		for k := range r {
			keys[k] = true
		}
	}
	column := func(k string) []float64 {
		ys := make([]float64, len(recs))
		for i, r := range recs {
			if v, ok := r[k]; ok {
				ys[i] = v
			} else {
				ys[i] = math.NaN()
			}
		}
		return ys
	}
	var accKeys, lossKeys []string
	for k := range keys {
		last := k[strings.LastIndexByte(k, '.')+1:]
		switch {
		case k == "epoch":
		case slices.Contains(accuracyKeys, last):
			accKeys = append(accKeys, k)
		case slices.ContainsFunc(lossWords, func(w string) bool { return strings.Contains(strings.ToLower(k), w) }):
			lossKeys = append(lossKeys, k)
		}
	}
	slices.SortFunc(accKeys, func(a, b string) int {
		ia := slices.Index(accuracyKeys, a[strings.LastIndexByte(a, '.')+1:])
		ib := slices.Index(accuracyKeys, b[strings.LastIndexByte(b, '.')+1:])
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	group := func(k string) int {
		switch {
		case strings.HasPrefix(k, "train."):
			return 0
		case strings.HasPrefix(k, "test."):
			return 1
		}
		return 2
	}
	total := func(k string) int { // the totals first, then their terms
		if last := k[strings.LastIndexByte(k, '.')+1:]; last == "loss" || last == "elbo" {
			return 0
		}
		return 1
	}
	slices.SortFunc(lossKeys, func(a, b string) int {
		if ta, tb := total(a), total(b); ta != tb {
			return ta - tb
		}
		if ga, gb := group(a), group(b); ga != gb {
			return ga - gb
		}
		return strings.Compare(a, b)
	})

	var loss, acc []Series
	for _, k := range lossKeys {
		ys := column(k)
		name := k
		if strings.Contains(strings.ToLower(k), "elbo") && allNegative(ys) {
			for i := range ys {
				ys[i] = -ys[i]
			}
			name = "-" + k
		}
		loss = append(loss, Series{Name: name, X: xs, Y: ys})
	}
	for _, k := range accKeys {
		acc = append(acc, Series{Name: k, X: xs, Y: column(k)})
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := CurvesPanels(filepath.Join(outDir, "loss.png"),
		Panel{Title: "loss terms", XLabel: "epoch", YLabel: "nats per observation", Series: loss}); err != nil {
		return err
	}
	return CurvesPanels(filepath.Join(outDir, "accuracy.png"),
		Panel{Title: "clustering (test set)", XLabel: "epoch", YLabel: "score", Series: acc})
}

// allNegative reports whether ys has a finite value and every finite value is < 0.
func allNegative(ys []float64) bool {
	seen := false
	for _, y := range ys {
		if isFinite(y) {
			if y >= 0 {
				return false
			}
			seen = true
		}
	}
	return seen
}

// readMetrics parses a JSON-lines file into flattened numeric records.
func readMetrics(path string) ([]map[string]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var recs []map[string]float64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			if i == len(lines)-1 {
				break // a line still being written
			}
			return nil, fmt.Errorf("report: %s:%d: %w", path, i+1, err)
		}
		rec := map[string]float64{}
		flatten("", obj, rec)
		recs = append(recs, rec)
	}
	return recs, nil
}

func flatten(prefix string, v any, out map[string]float64) {
	if _, ok := v.(map[string]any); !ok && prefix == "" {
		return // a line that is not an object
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, x, out)
		}
	case float64:
		out[prefix] = t
	case nil:
		out[prefix] = math.NaN()
	case string:
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			out[prefix] = f // "NaN", "Inf", "-Inf", or a number written as text
		}
	}
}
