package data

import (
	"fmt"
	"math"
)

// Affine is the map a model applies to every input row before it sees it:
// x'_j = (x_j - Shift_j) * Scale_j, with one (Shift, Scale) per feature (len D) or one
// for every feature (len 1). It is part of a trained model (stored with its
// configuration), so that new rows are scaled as the training rows were. Each
// operation is one float32 rounding, the same on every machine.
type Affine struct {
	Shift []float32 `json:"shift"`
	Scale []float32 `json:"scale"`
}

// Validate checks the map's lengths (1 or d, the same for both) and values (finite,
// scales non-zero).
func (a Affine) Validate(d int) error {
	if len(a.Shift) != len(a.Scale) || (len(a.Shift) != 1 && len(a.Shift) != d) {
		return fmt.Errorf("data: input map of %d shifts and %d scales for %d features: want 1 or %d of each", len(a.Shift), len(a.Scale), d, d)
	}
	for j := range a.Shift {
		s, c := float64(a.Shift[j]), float64(a.Scale[j])
		if math.IsNaN(s) || math.IsInf(s, 0) || math.IsNaN(c) || math.IsInf(c, 0) || c == 0 {
			return fmt.Errorf("data: input map: feature %d has shift %g and scale %g: want finite values and a non-zero scale", j, s, c)
		}
	}
	return nil
}

// Apply maps the rows of x (rows of d values) in place.
func (a Affine) Apply(x []float32, d int) {
	if len(a.Shift) == 1 {
		s, c := a.Shift[0], a.Scale[0]
		for i, v := range x {
			x[i] = float32((v - s) * c)
		}
		return
	}
	for r := 0; r+d <= len(x); r += d {
		row := x[r : r+d]
		for j, v := range row {
			row[j] = float32((v - a.Shift[j]) * a.Scale[j])
		}
	}
}

// Standardize returns the map that gives every feature mean 0 and standard deviation
// 1 (a constant feature keeps scale 1), from st.
func Standardize(st *Stats) Affine {
	a := Affine{Shift: make([]float32, st.D), Scale: make([]float32, st.D)}
	for j := range st.D {
		a.Shift[j] = float32(st.Mean[j])
		a.Scale[j] = 1
		if st.Std[j] > 0 {
			a.Scale[j] = float32(1 / st.Std[j])
		}
	}
	return a
}

// StandardizeCommon returns one map for every feature: the mean of all values to 0 and
// their standard deviation to 1 (features that share a unit, as pixels do, keep their
// relative scales).
func StandardizeCommon(st *Stats) Affine {
	var mean, sq float64
	for j := range st.D {
		mean += st.Mean[j]
		sq += st.Std[j]*st.Std[j] + st.Mean[j]*st.Mean[j]
	}
	mean /= float64(st.D)
	sd := math.Sqrt(math.Max(sq/float64(st.D)-mean*mean, 0))
	scale := 1.0
	if sd > 0 {
		scale = 1 / sd
	}
	return Affine{Shift: []float32{float32(mean)}, Scale: []float32{float32(scale)}}
}

// Mapped returns src with a applied to every row it gathers (a must fit src's D).
func Mapped(src Source, a Affine) (Source, error) {
	if err := a.Validate(src.Info().D); err != nil {
		return nil, err
	}
	return &mapped{Source: src, a: a}, nil
}

type mapped struct {
	Source
	a         Affine
	lo, hi    float32
	haveRange bool
}

func (m *mapped) Gather(indices []int, x []float32, labels []int) {
	m.Source.Gather(indices, x, labels)
	m.a.Apply(x[:len(indices)*m.Source.Info().D], m.Source.Info().D)
}

// Range scans the mapped rows once (then remembers it).
func (m *mapped) Range() (lo, hi float32) {
	if m.haveRange {
		return m.lo, m.hi
	}
	in := m.Source.Info()
	d := in.D
	first := true
	x := make([]float32, min(in.N, 1024)*d)
	for _, idx := range SequentialBatches(in.N, 1024) {
		rows := x[:len(idx)*d]
		m.Gather(idx, rows, nil)
		for _, v := range rows {
			if first || v < m.lo {
				m.lo = v
			}
			if first || v > m.hi {
				m.hi = v
			}
			first = false
		}
	}
	m.haveRange = true
	return m.lo, m.hi
}

func (m *mapped) Head(n int) (Source, error) {
	h, err := m.Source.Head(n)
	if err != nil {
		return nil, err
	}
	return &mapped{Source: h, a: m.a}, nil
}
