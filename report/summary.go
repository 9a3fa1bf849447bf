package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Summary is what a finished run shows on one screen. The trainer fills it from its
// evaluation; every field may be left empty.
type Summary struct {
	Title   string             // e.g. "dilokthanakul K=10 M=1 seed 3, 100 epochs"
	Metrics map[string]float64 // final scores and loss terms by name
	Usage   []int              // examples per cluster on the evaluation set
	// Labels is the (K, C) table of labelled examples per cluster and class
	// (metrics.Summary.Contingency); nil without labels. With up to 16 clusters each
	// cluster's bar then names its main classes.
	Labels  [][]int
	RunDir  string        // the run's folder
	Elapsed time.Duration // training time; 0: not shown
}

// summaryOrder puts the clustering scores first; other metrics follow by name.
var summaryOrder = []string{"acc_paper", "acc_paper_f32", "acc_purity", "acc_hungarian", "nmi", "ari"}

// FormatSummary writes s as a small text table: the metrics (clustering scores first,
// then the rest by name), the cluster usage as a histogram (one bar per cluster up to
// 16 clusters, followed by the cluster's main classes when s.Labels is given; a density
// strip of 32 clusters per line beyond), with the number of
// used clusters, the largest cluster's share and a warning on collapse, then the run
// folder. It ends with a newline.
func FormatSummary(s Summary) string {
	var b strings.Builder
	if s.Title != "" {
		fmt.Fprintf(&b, "== %s ==\n", s.Title)
	}
	if len(s.Metrics) > 0 {
		keys := make([]string, 0, len(s.Metrics))
		for k := range s.Metrics {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int {
			ix, iy := slices.Index(summaryOrder, x), slices.Index(summaryOrder, y)
			switch {
			case ix >= 0 && iy >= 0:
				return ix - iy
			case ix >= 0:
				return -1
			case iy >= 0:
				return 1
			}
			return strings.Compare(x, y)
		})
		w := 6
		for _, k := range keys {
			w = max(w, len(k))
		}
		fmt.Fprintf(&b, "%-*s  %s\n", w, "metric", "value")
		for _, k := range keys {
			fmt.Fprintf(&b, "%-*s  %s\n", w, k, FormatValue(s.Metrics[k]))
		}
	}
	if len(s.Usage) > 0 {
		formatUsage(&b, s.Usage, s.Labels)
	}
	if s.RunDir != "" {
		fmt.Fprintf(&b, "run folder: %s\n", s.RunDir)
	}
	if s.Elapsed > 0 {
		fmt.Fprintf(&b, "time: %s\n", formatDuration(s.Elapsed))
	}
	return b.String()
}

func formatUsage(b *strings.Builder, usage []int, labels [][]int) {
	k := len(usage)
	total, largest, used := 0, 0, 0
	var empty []int
	for i, u := range usage {
		total += max(u, 0)
		largest = max(largest, u)
		if u > 0 {
			used++
		} else {
			empty = append(empty, i)
		}
	}
	share := 0.0
	if total > 0 {
		share = float64(largest) / float64(total)
	}
	fmt.Fprintf(b, "cluster usage: %d/%d clusters used, largest %.1f%% of %d\n", used, k, 100*share, total)
	if k > 1 && used == 1 {
		b.WriteString("WARNING: every example is in one cluster (collapsed)\n")
	}
	if len(empty) > 0 && len(empty) < k {
		list := empty
		more := ""
		if len(list) > 12 {
			list, more = list[:12], fmt.Sprintf(" ... (%d more)", len(empty)-12)
		}
		fmt.Fprintf(b, "empty clusters: %s%s\n", strings.Trim(fmt.Sprint(list), "[]"), more)
	}
	iw := len(fmt.Sprint(k - 1))
	if k <= 16 {
		const barW = 40
		cw := len(fmt.Sprint(largest))
		for i, u := range usage {
			n := 0
			if largest > 0 && u > 0 {
				n = max(1, (u*barW+largest/2)/largest)
			}
			pct := 0.0
			if total > 0 {
				pct = 100 * float64(max(u, 0)) / float64(total)
			}
			fmt.Fprintf(b, "  %*d |%-*s %*d %5.1f%%", iw, i, barW, strings.Repeat("#", n), cw, u, pct)
			if len(labels) == k {
				b.WriteString(mainClasses(labels[i]))
			}
			b.WriteByte('\n')
		}
		return
	}
	// A density strip: one character per cluster, ' ' empty, then . : - = + * # % @
	// up to the largest cluster.
	const levels = " .:-=+*#%@"
	for lo := 0; lo < k; lo += 32 {
		hi := min(lo+32, k)
		var line strings.Builder
		for _, u := range usage[lo:hi] {
			c := 0
			if u > 0 && largest > 0 {
				c = max(1, (u*(len(levels)-1)+largest/2)/largest)
			}
			line.WriteByte(levels[c])
		}
		fmt.Fprintf(b, "  %*d-%-*d |%s|\n", iw, lo, iw, hi-1, line.String())
	}
	fmt.Fprintf(b, "  (one character per cluster: ' ' empty, '.' few ... '@' the largest, %d)\n", largest)
}

// mainClasses describes one cluster's row of the contingency table: "  classes 3 58%,
// 5 30%, 8 12%", its classes by decreasing count (ties: the smaller class first), as
// long as each holds at least 5% of the cluster's labelled examples, at most three;
// "" for a cluster without labelled examples.
func mainClasses(row []int) string {
	total := 0
	for _, n := range row {
		total += max(n, 0)
	}
	if total == 0 {
		return ""
	}
	order := make([]int, len(row))
	for c := range order {
		order[c] = c
	}
	slices.SortStableFunc(order, func(x, y int) int { return row[y] - row[x] })
	var parts []string
	for _, c := range order[:min(3, len(order))] {
		if row[c] <= 0 || (len(parts) > 0 && 20*row[c] < total) {
			break
		}
		parts = append(parts, fmt.Sprintf("%d %.0f%%", c, 100*float64(row[c])/float64(total)))
	}
	return "  classes " + strings.Join(parts, ", ")
}
