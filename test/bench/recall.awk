# test/bench/recall.awk: sums up psql's output of one or more runs of a
# recall statement under \timing, whose first row is "recall|rows", into
# "recall | ms per query" (the fastest run).  Variables: n, the number of
# queries (each must return 10 rows, else a warning goes to stderr), and
# name, the script to name in that warning.
/^Time: / { if (ms == "" || $2 < ms) ms = $2; next }
r == "" { split($0, f, "|"); r = f[1]; rows = f[2] }
END {
	if (rows < 10 * n)
		printf "%s: %d rows for %d queries\n", name, rows, n > "/dev/stderr"
	printf "%s | %.3f", r, ms / n
}
