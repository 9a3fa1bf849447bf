package report

import (
	"image"
	"image/color"
	"strings"
)

// glyphs is a 3x5 pixel font: digits, upper-case letters and a little punctuation,
// enough for row labels ("12", "K3", "REC") without a font dependency. Each glyph is
// five rows of three cells, '#' set.
var glyphs = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"},
	'1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"},
	'3': {"###", "..#", ".##", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"},
	'5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"},
	'7': {"###", "..#", ".#.", ".#.", ".#."},
	'8': {"###", "#.#", "###", "#.#", "###"},
	'9': {"###", "#.#", "###", "..#", "###"},
	'A': {".#.", "#.#", "###", "#.#", "#.#"},
	'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"},
	'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"},
	'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"},
	'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"},
	'J': {"..#", "..#", "..#", "#.#", ".#."},
	'K': {"#.#", "#.#", "##.", "#.#", "#.#"},
	'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "###", "#.#", "#.#"},
	'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {".#.", "#.#", "#.#", "#.#", ".#."},
	'P': {"##.", "#.#", "##.", "#..", "#.."},
	'Q': {".#.", "#.#", "#.#", "##.", ".##"},
	'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."},
	'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"},
	'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'W': {"#.#", "#.#", "###", "###", "#.#"},
	'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."},
	'Z': {"###", "..#", ".#.", "#..", "###"},
	'-': {"...", "...", "###", "...", "..."},
	'.': {"...", "...", "...", "...", ".#."},
	':': {"...", ".#.", "...", ".#.", "..."},
	'/': {"..#", "..#", ".#.", "#..", "#.."},
	'=': {"...", "###", "...", "###", "..."},
	'?': {"##.", "..#", ".#.", "...", ".#."},
	' ': {"...", "...", "...", "...", "..."},
}

const (
	glyphW   = 3
	glyphH   = 5
	glyphGap = 1 // blank cells between glyphs
)

// textWidth is the width in pixels of s drawn at scale (cells of scale x scale pixels).
func textWidth(s string, scale int) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return (n*(glyphW+glyphGap) - glyphGap) * scale
}

// drawText draws s with its top-left corner at (x, y), each font cell a scale x scale
// square, clipped to clip. Lower-case letters are drawn as upper case; a character
// without a glyph is drawn as '?'.
func drawText(img *image.RGBA, clip image.Rectangle, x, y, scale int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs['?']
		}
		for gy := range glyphH {
			for gx := range glyphW {
				if g[gy][gx] != '#' {
					continue
				}
				cell := image.Rect(x+gx*scale, y+gy*scale, x+(gx+1)*scale, y+(gy+1)*scale).Intersect(clip)
				fillRect(img, cell, c)
			}
		}
		x += (glyphW + glyphGap) * scale
	}
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}
