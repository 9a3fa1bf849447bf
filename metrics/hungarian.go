package metrics

import (
	"fmt"
	"math"
)

// MaxWeightMatching solves the rectangular assignment problem: it matches rows to
// columns one-to-one (min(rows, cols) pairs) so that the sum of the matched weights
// w[r][c] is as large as possible, and returns rowToCol (-1 for a row left unmatched
// when rows > cols) and that sum. w must be rectangular with finite entries; an empty
// w gives an empty matching.
//
// It is the Hungarian (Kuhn–Munkres) algorithm in the O(n^2 m) shortest-augmenting-path
// form with row and column potentials (Jonker–Volgenant style, n = min side, m = the
// other), run on the costs -w. On integer weights (contingency counts) every quantity
// is an exact integer in float64, so the optimum is exact. Among optimal matchings the
// one found depends only on w (the loops run in index order).
func MaxWeightMatching(w [][]float64) (rowToCol []int, total float64, err error) {
	n := len(w)
	if n == 0 {
		return []int{}, 0, nil
	}
	m := len(w[0])
	for i, row := range w {
		if len(row) != m {
			return nil, 0, fmt.Errorf("metrics: matching: row %d has %d entries, row 0 has %d", i, len(row), m)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, fmt.Errorf("metrics: matching: w[%d][%d] = %v is not finite", i, j, v)
			}
		}
	}
	rowToCol = make([]int, n)
	for i := range rowToCol {
		rowToCol[i] = -1
	}
	if m == 0 {
		return rowToCol, 0, nil
	}
	transposed := n > m
	cost := func(i, j int) float64 { return -w[i][j] } // rows of the problem solved
	rows, cols := n, m
	if transposed {
		cost = func(i, j int) float64 { return -w[j][i] }
		rows, cols = m, n
	}
	colToRow := assignMin(rows, cols, cost)
	for j, i := range colToRow {
		if i < 0 {
			continue
		}
		if transposed {
			rowToCol[j] = i // problem row i = original column i, problem column j = original row j
		} else {
			rowToCol[i] = j
		}
	}
	for i, j := range rowToCol {
		if j >= 0 {
			total += w[i][j]
		}
	}
	return rowToCol, total, nil
}

// assignMin assigns each of n rows to a distinct one of m >= n columns minimising the
// total cost(i, j), and returns colToRow (-1 for unassigned columns). This is the
// classic potentials formulation: rows are added one at a time, and each addition runs
// a Dijkstra-like search for the cheapest augmenting path over reduced costs
// cost(i, j) - u[i] - v[j] >= 0, updating the potentials so that they stay feasible.
func assignMin(n, m int, cost func(i, j int) float64) []int {
	inf := math.Inf(1)
	// 1-based, with column 0 a virtual column holding the row being added.
	u := make([]float64, n+1)
	v := make([]float64, m+1)
	p := make([]int, m+1)   // p[j]: row assigned to column j (0 = none)
	way := make([]int, m+1) // way[j]: previous column on the path to j
	minv := make([]float64, m+1)
	used := make([]bool, m+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = inf
			used[j] = false
		}
		for {
			used[j0] = true
			i0, delta, j1 := p[j0], inf, 0
			for j := 1; j <= m; j++ {
				if used[j] {
					continue
				}
				cur := cost(i0-1, j-1) - u[i0] - v[j]
				if cur < minv[j] {
					minv[j], way[j] = cur, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= m; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 { // flip the augmenting path
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	colToRow := make([]int, m)
	for j := 1; j <= m; j++ {
		colToRow[j-1] = p[j] - 1
	}
	return colToRow
}
