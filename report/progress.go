package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports how far a loop of steps (one training epoch, one evaluation pass)
// has gone. On a terminal it is a redrawn bar with examples/s and ETA; on anything
// else (a log file, a pipe, a CI console) it writes plain lines now and then:
//
//	epoch 1 step 300/600 (50%) 1234 ex/s ETA 25s loss 123.4
//
// and a last line from Finish:
//
//	epoch 1 step 600/600 (100%) 1230 ex/s done in 49s loss 120.1
//
// All methods are safe for concurrent use and do nothing on a nil *Progress.
type Progress struct {
	// Interval and Every say when the plain display writes a line: when Interval has
	// passed since the last line, or the fraction done crosses a multiple of Every.
	// Set them before the first Add. Defaults: 10 s and 0.25.
	Interval time.Duration
	Every    float64

	mu       sync.Mutex
	w        io.Writer
	total    int
	done     int
	untimed  int // steps done before the display started (SetDone): not in the rates
	desc     string
	batch    int // examples per step; 0: rates are in steps ("it/s")
	fields   map[string]float64
	status   string
	start    time.Time
	last     time.Time // last plain line
	lastFrac int       // multiples of Every reached at the last plain line
	finished bool
	now      func() time.Time
	bar      *progressbar.ProgressBar
}

// NewProgress starts a display of total steps (total <= 0: unknown) named desc (for
// example "epoch 3") on w.
func NewProgress(w io.Writer, total int, desc string) *Progress {
	p := &Progress{
		Interval: 10 * time.Second, Every: 0.25,
		w: w, total: total, desc: desc, now: time.Now,
	}
	p.start = p.now()
	p.last = p.start
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = p.newBar()
	}
	return p
}

// SetBatch sets the number of examples in one step, so rates are in examples/s
// ("ex/s"); without it they are in steps/s ("it/s"). Call it before the first Add.
func (p *Progress) SetBatch(examplesPerStep int) *Progress {
	if p == nil {
		return p
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batch = max(examplesPerStep, 0)
	if p.bar != nil {
		p.bar = p.newBar()
	}
	return p
}

// SetDone records n steps as done before the display started (for example the step
// whose end created it): they count in the steps shown, not in the rates and the ETA,
// which measure only the steps timed since NewProgress. Call it before the first Add.
func (p *Progress) SetDone(n int) *Progress {
	if p == nil {
		return p
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n = max(n, 0)
	p.done, p.untimed = n, n
	if p.bar != nil {
		p.bar.Set64(int64(n) * int64(max(p.batch, 1)))
	}
	return p
}

func (p *Progress) newBar() *progressbar.ProgressBar {
	unit := max(p.batch, 1)
	maxv := int64(-1)
	if p.total > 0 {
		maxv = int64(p.total) * int64(unit)
	}
	its := "it"
	if p.batch > 0 {
		its = "ex"
	}
	return progressbar.NewOptions64(maxv,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(its),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
	)
}

// Add records n more steps done and the latest values of some quantities (for example
// {"loss": 123.4}); fields replaces the previous set, nil keeps it. Fields are shown
// sorted by name.
func (p *Progress) Add(n int, fields map[string]float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.done += n
	if fields != nil {
		p.fields = maps.Clone(fields)
	}
	if p.bar != nil {
		p.bar.Describe(strings.TrimSpace(p.desc + " " + p.tail()))
		p.bar.Add64(int64(n) * int64(max(p.batch, 1)))
		return
	}
	now := p.now()
	frac := -1
	if p.total > 0 && p.Every > 0 {
		frac = int(math.Floor(float64(p.done) / float64(p.total) / p.Every))
	}
	if p.total > 0 && p.done >= p.total {
		return // Finish writes the last line
	}
	if now.Sub(p.last) >= p.Interval || frac > p.lastFrac {
		p.last, p.lastFrac = now, frac
		fmt.Fprintln(p.w, p.line(now, false))
	}
}

// Status sets a short text shown after the fields (for example "evaluating"); ""
// clears it.
func (p *Progress) Status(s string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = s
	if p.bar != nil {
		p.bar.Describe(strings.TrimSpace(p.desc + " " + p.tail()))
	}
}

// Finish ends the display with a last line: steps done, mean rate, time taken, and the
// last fields. Later calls to Add and Finish do nothing.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	if p.bar != nil {
		p.bar.Describe(strings.TrimSpace(p.desc + " " + p.tail()))
		p.bar.Finish()
		fmt.Fprintln(p.w)
		return
	}
	fmt.Fprintln(p.w, p.line(p.now(), true))
}

// line formats one plain progress line.
func (p *Progress) line(now time.Time, final bool) string {
	var b strings.Builder
	b.WriteString(p.desc)
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	sep()
	if p.total > 0 {
		fmt.Fprintf(&b, "step %d/%d (%d%%)", p.done, p.total, int(100*float64(p.done)/float64(p.total)))
	} else {
		fmt.Fprintf(&b, "step %d", p.done)
	}
	elapsed := now.Sub(p.start)
	timed := p.done - p.untimed
	if elapsed > 0 && timed > 0 {
		unit, per := "it/s", 1
		if p.batch > 0 {
			unit, per = "ex/s", p.batch
		}
		fmt.Fprintf(&b, " %s %s", formatRate(float64(timed*per)/elapsed.Seconds()), unit)
	}
	switch {
	case final:
		fmt.Fprintf(&b, " done in %s", formatDuration(elapsed))
	case p.total > 0 && timed > 0 && elapsed > 0:
		left := time.Duration(float64(elapsed) * float64(p.total-p.done) / float64(timed))
		fmt.Fprintf(&b, " ETA %s", formatDuration(left))
	}
	if t := p.tail(); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	return b.String()
}

// tail is the fields and status: "kl 1.5 loss 123.4 evaluating".
func (p *Progress) tail() string {
	keys := make([]string, 0, len(p.fields))
	for k := range p.fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, 2*len(keys)+1)
	for _, k := range keys {
		parts = append(parts, k, FormatValue(p.fields[k]))
	}
	if p.status != "" {
		parts = append(parts, p.status)
	}
	return strings.Join(parts, " ")
}

// FormatValue writes a metric compactly: 4 significant digits below 1000 (123.4,
// 0.8765, 1.5e-05), one decimal above (12345.6), and NaN, +Inf, -Inf as such.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// formatRate writes a rate: whole numbers from 100, else 3 significant digits.
func formatRate(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.3g", r)
}

// formatDuration writes 25s, 4m05s or 2h03m.
func formatDuration(d time.Duration) string {
	s := int64(math.Round(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
}
