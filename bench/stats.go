package main

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// How a goal is judged (bench/README.md, "How goals are judged"):
//
//   - a comparison of the tool with its raw command is judged on the
//     paired ratios: tool / raw of the same round, run a few seconds apart,
//     so that a load that comes and goes weighs on both;
//   - a goal meets only when the upper quartile of those ratios (or of the
//     samples, for a goal in milliseconds) does: three runs in four at
//     least as good as the goal;
//   - when the upper quartile misses, the machine may be to blame: the raw
//     command's own samples say how steady the machine was. When their
//     interquartile range is more than noisyAbove of their median, the
//     verdict is "too noisy to judge", not "misses".

// noisyAbove is the spread of a raw baseline's samples (interquartile
// range over median) above which a missed goal is too noisy to judge. On
// the 2-core machine the benchmark was written on, quiet, `docker compose
// ps` spreads 10 to 16 % and a cold build 5 %; at a load average of 30,
// 40 % and more.
const noisyAbove = 0.20

// quantile is the q-quantile (0 ≤ q ≤ 1) of sorted values, interpolated
// linearly between the two nearest ranks (R's type 7, numpy's default):
// with one value, every quantile is that value.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// spread is the quartiles of a set of values.
type spread struct {
	n              int
	q1, median, q3 float64
}

func spreadOf(values []float64) spread {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	return spread{n: len(s), q1: quantile(s, 0.25), median: quantile(s, 0.5), q3: quantile(s, 0.75)}
}

// relIQR is the interquartile range over the median: how much the values
// spread, whatever their size. Zero for no values.
func (s spread) relIQR() float64 {
	if s.n == 0 || s.median == 0 {
		return 0
	}
	return (s.q3 - s.q1) / s.median
}

// ms are durations in milliseconds.
func ms(ds []time.Duration) []float64 {
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = float64(d) / float64(time.Millisecond)
	}
	return v
}

// pairedRatios are a[i]/b[i]: the samples of two variants of the same
// round (samples are recorded in round order).
func pairedRatios(a, b []time.Duration) []float64 {
	var ratios []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] > 0 {
			ratios = append(ratios, float64(a[i])/float64(b[i]))
		}
	}
	return ratios
}

// Verdicts.
const (
	meets       = "meets"
	misses      = "misses"
	tooNoisy    = "too noisy to judge"
	notMeasured = "not measured"
)

// judge says whether s meets the goal (at most goal) at its upper
// quartile; noise is the spread of the raw baseline that says how steady
// the machine was.
func judge(s spread, goal, noise float64) string {
	switch {
	case s.n == 0:
		return notMeasured
	case s.q3 <= goal:
		return meets
	case noise > noisyAbove:
		return tooNoisy
	}
	return misses
}

// fmtRatio is a ratio to two decimals, "-" when there is none.
func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// fmtMs is a time in milliseconds, to the tenth below 100 ms.
func fmtMs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.2f s", v/1000)
}

// fmtPercent is a fraction as a whole percentage.
func fmtPercent(v float64) string { return fmt.Sprintf("%.0f %%", 100*v) }
