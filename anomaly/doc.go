// Package anomaly holds Vigil's streaming anomaly detector: one Detector per
// series, fed point by point, with constant memory and constant work per
// point. It has no I/O and no goroutines; callers own scheduling,
// persistence (MarshalBinary) and alert routing.
//
// The detector combines cheap robust signals computed on the
// de-seasonalised value (a Huber-clipped level/scale z-score, a level-shift
// run, a new-extreme check, and the novelty of the recent quantised shape),
// each family post-processed by an anomaly likelihood: the tail probability of the
// recent mean raw score under a slowly updated Gaussian of past raw
// scores. Two members score directly, each only when it beats its own
// recent maximum: a single huge departure, and a window of the recent
// series far from every remembered prototype window (shape memory). The
// point's score is the largest member's, except that a likelihood member
// no other member corroborates pays a Bonferroni correction (fuse.go). See
// docs/anomaly.md for why each part exists and how it scores on the
// Numenta Anomaly Benchmark.
package anomaly
