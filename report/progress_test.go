package report

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestProgress(w *bytes.Buffer, total int, desc string) (*Progress, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := NewProgress(w, total, desc)
	p.now = clk.now
	p.start, p.last = clk.t, clk.t
	return p, clk
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p, clk := newTestProgress(&buf, 600, "epoch 1")
	p.SetBatch(100)
	require.Nil(t, p.bar, "a bytes.Buffer is not a terminal")
	// 600 steps of 50 ms (2000 ex/s), a line every 6 s or each quarter: quarters at
	// steps 150, 300, 450 (7.5 s, 15 s, 22.5 s), the interval at 120, 270, 420, 570
	// (6 s after the line before); step 600 is left to Finish.
	p.Interval = 6 * time.Second
	for i := 1; i <= 600; i++ {
		clk.advance(50 * time.Millisecond)
		p.Add(1, map[string]float64{"loss": 200 - float64(i)/10, "kl": 1.5})
	}
	p.Status("evaluating")
	clk.advance(time.Second)
	p.Finish()
	p.Finish() // once only
	p.Add(5, nil)
	want := []string{
		"epoch 1 step 120/600 (20%) 2000 ex/s ETA 24s kl 1.5 loss 188",
		"epoch 1 step 150/600 (25%) 2000 ex/s ETA 23s kl 1.5 loss 185",
		"epoch 1 step 270/600 (45%) 2000 ex/s ETA 17s kl 1.5 loss 173",
		"epoch 1 step 300/600 (50%) 2000 ex/s ETA 15s kl 1.5 loss 170",
		"epoch 1 step 420/600 (70%) 2000 ex/s ETA 9s kl 1.5 loss 158",
		"epoch 1 step 450/600 (75%) 2000 ex/s ETA 8s kl 1.5 loss 155",
		"epoch 1 step 570/600 (95%) 2000 ex/s ETA 2s kl 1.5 loss 143",
		"epoch 1 step 600/600 (100%) 1935 ex/s done in 31s kl 1.5 loss 140 evaluating",
	}
	require.Equal(t, strings.Join(want, "\n")+"\n", buf.String())
}

func TestProgressPlainFormats(t *testing.T) {
	var buf bytes.Buffer
	// Unknown total, no batch size (rates in it/s), no description, no fields.
	p, clk := newTestProgress(&buf, 0, "")
	p.Interval = time.Second
	clk.advance(1500 * time.Millisecond)
	p.Add(3, nil)
	clk.advance(90 * time.Minute)
	p.Add(1, map[string]float64{"nan": math.NaN(), "big": 123456.78, "tiny": 1.5e-5, "inf": math.Inf(-1)})
	p.Finish()
	want := []string{
		"step 3 2 it/s",
		"step 4 0.000741 it/s big 123456.8 inf -Inf nan NaN tiny 1.5e-05",
		"step 4 0.000741 it/s done in 1h30m big 123456.8 inf -Inf nan NaN tiny 1.5e-05",
	}
	require.Equal(t, strings.Join(want, "\n")+"\n", buf.String())

	// Steps done before the display started count in the steps shown, not in the
	// rates: 1 step already done, then 3 of 1 s each (100 ex/s, not 133).
	buf.Reset()
	p, clk = newTestProgress(&buf, 8, "epoch 2")
	p.SetBatch(100).SetDone(1)
	p.Every = 0.5
	for range 3 {
		clk.advance(time.Second)
		p.Add(1, nil)
	}
	p.Finish()
	want = []string{
		"epoch 2 step 4/8 (50%) 100 ex/s ETA 4s",
		"epoch 2 step 4/8 (50%) 100 ex/s done in 3s",
	}
	require.Equal(t, strings.Join(want, "\n")+"\n", buf.String())

	// A display started with nothing timed: no rate, no ETA.
	buf.Reset()
	p, _ = newTestProgress(&buf, 1, "epoch 3")
	p.SetBatch(100).SetDone(1)
	p.Finish()
	require.Equal(t, "epoch 3 step 1/1 (100%) done in 0s\n", buf.String())

	// Finish with nothing done: no rate, no ETA.
	buf.Reset()
	p, _ = newTestProgress(&buf, 10, "eval")
	p.Finish()
	require.Equal(t, "eval step 0/10 (0%) done in 0s\n", buf.String())

	// A nil Progress does nothing.
	var np *Progress
	np.Add(1, nil)
	np.Status("x")
	np.SetBatch(3)
	np.SetDone(2)
	np.Finish()
}

func TestProgressFiles(t *testing.T) {
	// An *os.File that is not a terminal also gets plain lines.
	f, err := os.CreateTemp(t.TempDir(), "log")
	require.NoError(t, err)
	defer f.Close()
	p := NewProgress(f, 2, "epoch 2").SetBatch(10)
	require.Nil(t, p.bar)
	p.Add(2, map[string]float64{"loss": 1})
	p.Finish()
	data, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "epoch 2 step 2/2 (100%) "), "%q", data)
	require.True(t, strings.HasSuffix(string(data), " loss 1\n"), "%q", data)
}

func TestFormatHelpers(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {25 * time.Second, "25s"}, {245 * time.Second, "4m05s"}, {7380 * time.Second, "2h03m"}} {
		require.Equal(t, c.want, formatDuration(c.d))
	}
	for _, c := range []struct {
		v    float64
		want string
	}{{123.4, "123.4"}, {0.87654, "0.8765"}, {-98.123, "-98.12"}, {2345.67, "2345.7"}, {0, "0"}, {math.Inf(1), "+Inf"}} {
		require.Equal(t, c.want, FormatValue(c.v))
	}
}
