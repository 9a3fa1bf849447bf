package report

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodePNG reads a PNG file back, failing the test if it is not one.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, "%s is not a valid PNG", path)
	return img
}

func rgba(img image.Image, x, y int) color.RGBA {
	return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
}

// digitImages makes n images h x w with a vertical ramp and a bright diagonal.
func digitImages(n, h, w int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		im := make([]float32, h*w)
		for y := range h {
			for x := range w {
				im[y*w+x] = float32(y) / float32(h-1) * 0.3
				if x == (y+i)%w {
					im[y*w+x] = 1
				}
			}
		}
		out[i] = im
	}
	return out
}

func TestImageGrid(t *testing.T) {
	dir := t.TempDir()
	const h, w = 28, 28
	rows := [][][]float32{digitImages(4, h, w), digitImages(4, h, w), digitImages(4, h, w)}
	// Row 1, image 2: pixel (3, 5) NaN, pixel (4, 5) +Inf (clamped white), (5,5) -1.
	rows[1][2][3*w+5] = float32(math.NaN())
	rows[1][2][4*w+5] = float32(math.Inf(1))
	rows[1][2][5*w+5] = -1
	path := filepath.Join(dir, "grid.png")
	require.NoError(t, ImageGrid(rows, h, w, path))
	img := decodePNG(t, path)

	// Scale 2, label glyphs at scale 3: label column 3*3 + 4*3 = 21 pixels.
	labelW := 21
	wantW := labelW + 1 + 4*(2*w+1)
	wantH := 1 + 3*(2*h+1)
	require.Equal(t, image.Rect(0, 0, wantW, wantH), img.Bounds())

	at := func(row, col, py, px int) color.RGBA { // one scaled pixel's top-left
		x0 := labelW + 1 + col*(2*w+1) + 2*px
		y0 := 1 + row*(2*h+1) + 2*py
		c := rgba(img, x0, y0)
		require.Equal(t, c, rgba(img, x0+1, y0+1), "scaled pixel is one colour")
		return c
	}
	require.Equal(t, NaNColor, at(1, 2, 3, 5))
	require.Equal(t, color.RGBA{255, 255, 255, 255}, at(1, 2, 4, 5))
	require.Equal(t, color.RGBA{0, 0, 0, 255}, at(1, 2, 5, 5))
	require.Equal(t, color.RGBA{255, 255, 255, 255}, at(0, 0, 0, 0), "diagonal")
	g := uint8(math.Round(float64(float32(10)/27*0.3) * 255))
	require.Equal(t, color.RGBA{g, g, g, 255}, at(2, 3, 10, 20))
	// Gutters: the first column and the top row of pixels, and between images.
	require.Equal(t, gridGutter, rgba(img, labelW, 5))
	require.Equal(t, gridGutter, rgba(img, 30, 0))
	require.Equal(t, gridGutter, rgba(img, labelW+1+2*w, 20))
	// The label column has both its colours (text drawn on background).
	seen := map[color.RGBA]bool{}
	for y := 1; y < 1+2*h; y++ {
		for x := range labelW {
			seen[rgba(img, x, y)] = true
		}
	}
	require.True(t, seen[gridLabelBG] && seen[gridLabelFG], "label column has text")
}

func TestImageGridEdgeCases(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name         string
		rows         [][][]float32
		h, w         int
		opt          GridOptions
		wantW, wantH int
	}{
		// K=1, one image, 3x2 pixels at scale 2: text scale 1, label 3+4 = 7 wide.
		{"one", [][][]float32{{{0, 0.5, 1, 0, 0.5, 1}}}, 3, 2, GridOptions{}, 7 + 1 + 5, 1 + 7},
		// No rows at all: an empty label column and the top gutter.
		{"no rows", nil, 28, 28, GridOptions{}, 12 + 1, 1},
		// Rows without images, and an empty row between full ones.
		{"empty rows", [][][]float32{{}, {}}, 28, 28, GridOptions{}, 21 + 1, 1 + 2*57},
		{"ragged", [][][]float32{digitImages(2, 28, 28), {}, digitImages(1, 28, 28)}, 28, 28, GridOptions{}, 21 + 1 + 2*57, 1 + 3*57},
		// Scale 1, labels with letters: "REC" at scale 1 (14/10 -> 1) is 11 + 4 wide.
		{"labels", [][][]float32{digitImages(2, 14, 14), digitImages(2, 14, 14)}, 14, 14,
			GridOptions{Scale: 1, Labels: []string{"orig", "rec"}}, 15 + 4 + 1 + 2*15, 1 + 2*15},
		// Rows labelled 0..10: two digits.
		{"two digits", make([][][]float32, 11), 28, 28, GridOptions{}, 2*9 + 3 + 12 + 1, 1 + 11*57},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".png")
			require.NoError(t, ImageGridWith(c.rows, c.h, c.w, path, c.opt))
			img := decodePNG(t, path)
			require.Equal(t, image.Rect(0, 0, c.wantW, c.wantH), img.Bounds())
		})
	}
	// "orig" is 4 glyphs at scale 1: 4*4-1 = 15 wide; the case above relies on it.
	require.Equal(t, 15, textWidth("orig", 1))
}

func TestImageGridErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.png")
	require.Error(t, ImageGrid([][][]float32{{make([]float32, 5)}}, 2, 2, path), "wrong length")
	require.Error(t, ImageGrid(nil, 0, 2, path), "zero height")
	require.Error(t, ImageGrid(nil, 2, 2, filepath.Join(dir, "no-such-dir", "x.png")))
	_, err := os.Stat(path)
	require.True(t, os.IsNotExist(err), "no file written on error")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "no temporary file left behind")
}

func TestReconstructionGrid(t *testing.T) {
	dir := t.TempDir()
	orig := digitImages(7, 28, 28)
	recon := digitImages(7, 28, 28)
	path := filepath.Join(dir, "recon.png")
	require.NoError(t, ReconstructionGrid(orig, recon, 28, 28, 4, path))
	img := decodePNG(t, path)
	// 4 rows (0-3, R, 4-6, R), 4 columns; labels "0", "R", "4", "R": one glyph wide.
	require.Equal(t, image.Rect(0, 0, 21+1+4*57, 1+4*57), img.Bounds())
	require.Error(t, ReconstructionGrid(orig, recon[:3], 28, 28, 4, path))
	require.Error(t, ReconstructionGrid(orig, recon, 28, 28, 0, path))
}

func TestFontHasEveryGlyphWellFormed(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			require.Len(t, row, glyphW, "glyph %q", r)
		}
	}
	for _, r := range "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
		require.Contains(t, glyphs, r)
	}
}
