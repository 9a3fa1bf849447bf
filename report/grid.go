package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"

	"github.com/gmvae/gmvae/internal/atomicfile"
)

// Colours of the image grid. NaN pixels are magenta, a colour no grey-scale image
// has, so a model that produced NaNs shows it at a glance instead of failing to draw.
var (
	gridGutter  = color.RGBA{110, 110, 110, 255}
	gridLabelBG = color.RGBA{24, 24, 24, 255}
	gridLabelFG = color.RGBA{240, 240, 240, 255}
	gridEmpty   = color.RGBA{60, 60, 60, 255} // cells past the end of a short row
	// NaNColor marks NaN values in image grids.
	NaNColor = color.RGBA{255, 0, 255, 255}
)

// GridOptions tunes ImageGridWith. The zero value is ImageGrid's layout.
type GridOptions struct {
	// Scale is the side in output pixels of one image pixel; 0 means 2.
	Scale int
	// Labels, when not nil, gives the text of each row's label (digits, letters and
	// -.:/= are drawn; anything else shows as '?'). Nil labels rows 0, 1, 2, ...
	Labels []string
}

// ImageGrid writes a PNG grid of grey-scale images: one grid row per element of rows
// (for example one row of samples per cluster, or alternating rows of originals and
// their reconstructions), each image len h*w, row-major, values in [0,1] (0 black,
// 1 white; values outside are clamped, NaN is drawn in NaNColor). Images are scaled
// up 2x, separated by 1-pixel gutters, and each row is labelled on the left with its
// index. Rows may hold different numbers of images (cells past a short row's end are
// left dark); rows with no images are drawn as empty rows.
func ImageGrid(rows [][][]float32, h, w int, path string) error {
	return ImageGridWith(rows, h, w, path, GridOptions{})
}

// ImageGridWith is ImageGrid with a chosen scale and row labels.
func ImageGridWith(rows [][][]float32, h, w int, path string, opt GridOptions) error {
	img, err := RenderGrid(rows, h, w, opt)
	if err != nil {
		return fmt.Errorf("report: image grid %s: %w", path, err)
	}
	return writePNG(path, img)
}

// ReconstructionGrid writes an ImageGrid of originals and their reconstructions:
// perRow originals, then the same perRow reconstructions below them, and so on; the
// original rows are labelled by their first example's index, the reconstruction rows
// "R". orig and recon must have the same length; each image is h*w values in [0,1].
func ReconstructionGrid(orig, recon [][]float32, h, w, perRow int, path string) error {
	if len(orig) != len(recon) {
		return fmt.Errorf("report: reconstruction grid %s: %d originals but %d reconstructions", path, len(orig), len(recon))
	}
	if perRow <= 0 {
		return fmt.Errorf("report: reconstruction grid %s: perRow %d <= 0", path, perRow)
	}
	var rows [][][]float32
	var labels []string
	for i := 0; i < len(orig); i += perRow {
		j := min(i+perRow, len(orig))
		rows = append(rows, orig[i:j], recon[i:j])
		labels = append(labels, strconv.Itoa(i), "R")
	}
	return ImageGridWith(rows, h, w, path, GridOptions{Labels: labels})
}

// gridLayout is the geometry shared by RenderGrid and its tests.
type gridLayout struct {
	scale, textScale, labelW, cellW, cellH, cols int
}

func newGridLayout(rows [][][]float32, h, w int, opt GridOptions) gridLayout {
	l := gridLayout{scale: opt.Scale}
	if l.scale <= 0 {
		l.scale = 2
	}
	l.cellW, l.cellH = w*l.scale, h*l.scale
	// Label glyphs take up to about half a row's height, at most 3x.
	l.textScale = max(1, min(3, l.cellH/(2*glyphH)))
	text := 0
	for i := range rows {
		text = max(text, textWidth(rowLabel(opt.Labels, i), l.textScale))
	}
	l.labelW = text + 4*l.textScale
	for _, r := range rows {
		l.cols = max(l.cols, len(r))
	}
	return l
}

func rowLabel(labels []string, i int) string {
	if labels == nil {
		return strconv.Itoa(i)
	}
	if i < len(labels) {
		return labels[i]
	}
	return ""
}

// size is the pixel size of the whole grid: a label column, then per image column a
// 1-pixel gutter and the image; a 1-pixel gutter above every row and below the last.
func (l gridLayout) size(nrows int) (width, height int) {
	return l.labelW + 1 + l.cols*(l.cellW+1), 1 + nrows*(l.cellH+1)
}

// RenderGrid draws the ImageGrid picture in memory (see ImageGrid for the layout).
func RenderGrid(rows [][][]float32, h, w int, opt GridOptions) (*image.RGBA, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("image size %dx%d must be positive", h, w)
	}
	for i, r := range rows {
		for j, im := range r {
			if len(im) != h*w {
				return nil, fmt.Errorf("row %d image %d has %d values, want %d*%d=%d", i, j, len(im), h, w, h*w)
			}
		}
	}
	l := newGridLayout(rows, h, w, opt)
	width, height := l.size(len(rows))
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fillRect(img, img.Rect, gridGutter)
	for i, r := range rows {
		y0 := 1 + i*(l.cellH+1)
		label := image.Rect(0, y0, l.labelW, y0+l.cellH)
		fillRect(img, label, gridLabelBG)
		ty := y0 + (l.cellH-glyphH*l.textScale)/2
		drawText(img, label, 2*l.textScale, ty, l.textScale, rowLabel(opt.Labels, i), gridLabelFG)
		for j := range l.cols {
			x0 := l.labelW + 1 + j*(l.cellW+1)
			if j >= len(r) {
				fillRect(img, image.Rect(x0, y0, x0+l.cellW, y0+l.cellH), gridEmpty)
				continue
			}
			drawImage(img, r[j], h, w, x0, y0, l.scale)
		}
	}
	return img, nil
}

func drawImage(img *image.RGBA, v []float32, h, w, x0, y0, s int) {
	for py := range h {
		for px := range w {
			c := grey(v[py*w+px])
			fillRect(img, image.Rect(x0+px*s, y0+py*s, x0+(px+1)*s, y0+(py+1)*s), c)
		}
	}
}

// grey maps [0,1] to black..white, clamping, with NaN as NaNColor.
func grey(v float32) color.RGBA {
	switch {
	case v != v:
		return NaNColor
	case v <= 0:
		return color.RGBA{0, 0, 0, 255}
	case v >= 1:
		return color.RGBA{255, 255, 255, 255}
	}
	g := uint8(math.Round(float64(v) * 255))
	return color.RGBA{g, g, g, 255}
}

// writePNG encodes img and writes it to path through a temporary file in the same
// folder, so a reader never sees half a picture.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("report: encode %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes a picture so that a crash leaves the old one or the new one.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.WriteBytes(path, data); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}
