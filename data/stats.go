package data

import (
	"fmt"
	"math"
)

// Stats describes a data set's features, for choosing how to model them: the range and
// moments of every column, and whether the values are binary, in [0, 1] or integers.
type Stats struct {
	N, D int
	// Per column (D): smallest and largest value, mean and standard deviation
	// (population, float64 sums in row order).
	Min, Max, Mean, Std []float64
	// Binary: every value is 0 or 1. Unit: every value lies in [0, 1]. Integer: every
	// value is a whole number.
	Binary, Unit, Integer bool
}

// Describe reads every row of src once (in chunks of rows, so that a sharded set larger
// than memory is read as it streams) and returns its Stats. A NaN or an infinity is an
// error naming the row and column.
func Describe(src Source) (*Stats, error) {
	in := src.Info()
	n, d := in.N, in.D
	st := &Stats{N: n, D: d, Min: make([]float64, d), Max: make([]float64, d), Mean: make([]float64, d),
		Std: make([]float64, d), Binary: true, Unit: true, Integer: true}
	for j := range d {
		st.Min[j], st.Max[j] = math.Inf(1), math.Inf(-1)
	}
	sum, sq := make([]float64, d), make([]float64, d)
	const chunk = 1024
	x := make([]float32, min(n, chunk)*d)
	for _, idx := range SequentialBatches(n, chunk) {
		rows := x[:len(idx)*d]
		src.Gather(idx, rows, nil)
		for r, i := range idx {
			for j, v := range rows[r*d : (r+1)*d] {
				f := float64(v)
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return nil, fmt.Errorf("data: %s: row %d column %d is %v: every value must be finite", in.Name, i, j, v)
				}
				st.Min[j] = math.Min(st.Min[j], f)
				st.Max[j] = math.Max(st.Max[j], f)
				sum[j] += f
				sq[j] += f * f
				if f != 0 && f != 1 {
					st.Binary = false
				}
				if f < 0 || f > 1 {
					st.Unit = false
				}
				if f != math.Trunc(f) {
					st.Integer = false
				}
			}
		}
	}
	if n == 0 {
		return st, nil
	}
	for j := range d {
		st.Mean[j] = sum[j] / float64(n)
		st.Std[j] = math.Sqrt(math.Max(sq[j]/float64(n)-st.Mean[j]*st.Mean[j], 0))
	}
	return st, nil
}
