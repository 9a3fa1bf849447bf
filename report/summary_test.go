package report

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ExampleFormatSummary() {
	fmt.Print(FormatSummary(Summary{
		Title: "dilokthanakul K=4 M=1 seed 3, 100 epochs",
		Metrics: map[string]float64{
			"test.elbo": -98.1234, "nmi": 0.8123, "acc_paper": 0.9367,
			"acc_hungarian": 0.9012, "ari": 0.7744, "acc_purity": 0.9301,
		},
		Usage:   []int{2500, 1200, 0, 6300},
		RunDir:  "runs/20261125-0930-dilokthanakul-k4",
		Elapsed: 754 * time.Second,
	}))
	// Output:
	// == dilokthanakul K=4 M=1 seed 3, 100 epochs ==
	// metric         value
	// acc_paper      0.9367
	// acc_purity     0.9301
	// acc_hungarian  0.9012
	// nmi            0.8123
	// ari            0.7744
	// test.elbo      -98.12
	// cluster usage: 3/4 clusters used, largest 63.0% of 10000
	// empty clusters: 2
	//   0 |################                         2500  25.0%
	//   1 |########                                 1200  12.0%
	//   2 |                                            0   0.0%
	//   3 |######################################## 6300  63.0%
	// run folder: runs/20261125-0930-dilokthanakul-k4
	// time: 12m34s
}

func TestFormatSummaryEdgeCases(t *testing.T) {
	// Empty: nothing at all.
	require.Equal(t, "", FormatSummary(Summary{}))

	// K=1: one bar, no collapse warning (nothing else was possible).
	s := FormatSummary(Summary{Usage: []int{10}})
	require.Equal(t, "cluster usage: 1/1 clusters used, largest 100.0% of 10\n  0 |######################################## 10 100.0%\n", s)

	// Collapse with K=10, a NaN metric.
	s = FormatSummary(Summary{Metrics: map[string]float64{"nmi": math.NaN()}, Usage: []int{0, 0, 0, 100, 0, 0, 0, 0, 0, 0}})
	require.Contains(t, s, "nmi     NaN\n")
	require.Contains(t, s, "WARNING: every example is in one cluster (collapsed)\n")
	require.Contains(t, s, "empty clusters: 0 1 2 4 5 6 7 8 9\n")

	// All empty (no examples): no division by zero.
	s = FormatSummary(Summary{Usage: []int{0, 0}})
	require.Contains(t, s, "0/2 clusters used, largest 0.0% of 0")

	// K=64: a density strip of two lines of 32, with the long empty list cut.
	usage := make([]int, 64)
	for i := range usage {
		usage[i] = (i * 37) % 100
	}
	usage[63] = 1000
	s = FormatSummary(Summary{Usage: usage})
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	require.Equal(t, "cluster usage: 63/64 clusters used, largest 24.0% of 4161", lines[0])
	require.Equal(t, "empty clusters: 0", lines[1])
	require.Equal(t, "   0-31 |"+strip(usage[:32], 1000)+"|", lines[2])
	require.Equal(t, "  32-63 |"+strip(usage[32:], 1000)+"|", lines[3])
	require.Len(t, lines, 5)
	require.True(t, strings.HasSuffix(lines[3], "@|"), "the largest is '@'")

	// With labels each bar names its main classes: by count, ties to the smaller class,
	// those under 5% of the cluster left out (but the first always shown), at most
	// three; an empty cluster names none.
	s = FormatSummary(Summary{Usage: []int{100, 0, 40, 1000}, Labels: [][]int{
		{0, 58, 30, 12, 0}, {0, 0, 0, 0, 0}, {1, 1, 19, 19, 0}, {10, 200, 400, 300, 90},
	}})
	lines = strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	require.Len(t, lines, 6)
	require.True(t, strings.HasSuffix(lines[2], "8.8%  classes 1 58%, 2 30%, 3 12%"), lines[2])
	require.True(t, strings.HasSuffix(lines[3], "0.0%"), lines[3])
	require.True(t, strings.HasSuffix(lines[4], "classes 2 48%, 3 48%"), lines[4])
	require.True(t, strings.HasSuffix(lines[5], "classes 2 40%, 3 30%, 1 20%"), lines[5])
	// A 4% class after the first is left out; a lone class is shown at any share.
	require.Equal(t, "  classes 0 96%", mainClasses([]int{96, 4}))
	require.Equal(t, "  classes 1 100%", mainClasses([]int{0, 3}))
	// A table that does not match the clusters is ignored.
	s = FormatSummary(Summary{Usage: []int{5, 5}, Labels: [][]int{{5}}})
	require.NotContains(t, s, "classes")

	// Many empty clusters: the list is cut at 12.
	usage = make([]int, 40)
	usage[0], usage[39] = 5, 5
	s = FormatSummary(Summary{Usage: usage})
	require.Contains(t, s, "empty clusters: 1 2 3 4 5 6 7 8 9 10 11 12 ... (26 more)\n")
}

// strip is the expected density strip, computed independently.
func strip(u []int, largest int) string {
	const levels = " .:-=+*#%@"
	var b strings.Builder
	for _, x := range u {
		if x == 0 {
			b.WriteByte(' ')
			continue
		}
		lvl := int(math.Round(float64(x) * 9 / float64(largest)))
		b.WriteByte(levels[max(1, lvl)])
	}
	return b.String()
}
