/*
 * kernel_bench.c
 *		Time every distance kernel at every SIMD level this CPU runs.
 *
 * For 128, 784 and 1536 dimensions, each kernel (squared L2, inner product,
 * cosine; float32 and float16) compares one query with NVEC stored vectors,
 * round after round.  Query and vectors, at most about 100 kB, stay in L1
 * or L2, so this measures arithmetic and cache, not memory: index scans,
 * which mostly miss the cache, will see less.  Throughput counts the bytes
 * of both input vectors read per call.
 *
 * Each cell of the table is calibrated to about SAMPLE_NS per sample; then
 * nsamples passes (7, or argv[1]) take one sample of every cell each, and
 * each cell reports its median.  The machines this runs on are shared and
 * their slow spells last seconds: interleaving spreads a spell over many
 * cells, one sample each, which the medians ignore.
 *
 * For scale, a "loads only" row reads the float32 working set with plain
 * AVX2 or AVX-512 loads, in the kernels' order, and does nothing else: the
 * cache's load bandwidth, which a float32 kernel can at best match.
 *
 * Usage: make test/bench/kernel_bench && test/bench/kernel_bench [samples]
 */
#include "postgres_fe.h"

#include <time.h>
#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "distance.h"

#define NVEC 16					/* stored vectors per query */
#define NDIMS 3
#define HEADLINE_DIM 1			/* dims[1] = 784 */
#define DEFAULT_SAMPLES 7
#define MAX_SAMPLES 101
#define SAMPLE_NS 20e6			/* target length of one sample */

typedef enum Metric
{
	METRIC_L2,
	METRIC_IP,
	METRIC_COSINE,
	METRIC_LOAD,				/* no kernel: the loads alone */
	NMETRICS
} Metric;

/*
 * One cell of the table: a kernel at one level (k is NULL for cells not
 * measured), its data (the query, then NVEC stored vectors, contiguous, as
 * float32 in f and the same values as float16 in h) and its samples.
 */
typedef struct Cell
{
	const AnnKernels *k;
	Metric		metric;
	bool		half;
	int			n;
	const float *f;
	const AnnHalf *h;
	long		rounds;			/* rounds per sample */
	double		ns[MAX_SAMPLES];	/* ns per call, one per pass */
} Cell;

static const int dims[NDIMS] = {128, 784, 1536};
static const char *const metric_names[NMETRICS] = {"L2", "IP", "cosine", "loads only"};

/* by dims index, metric, float16 or not, level */
static Cell cells[NDIMS][NMETRICS][2][ANN_SIMD_NLEVELS];

#define NCELLS ((int) (sizeof(cells) / sizeof(Cell)))

/* Results land here so the compiler must compute them. */
static volatile double sink;

#ifdef __x86_64__
/*
 * The loads of a float32 kernel and nothing else, one 64-byte line of the
 * query and one of the stored vector per iteration (reading half lines, the
 * AVX2 loop ran a third slower from L2 than the AVX2 kernels).  The empty
 * asm makes the compiler load each register, with no dependency between
 * loads for their latency to add to; the memory clobber keeps it from
 * merging rounds.  A plain sweep over the buffer would be an unfair
 * ceiling: the kernels find the query in L1 on every call, while a sweep
 * over more than L1 misses on every line.  n % 16 must be 0.
 */
__attribute__((target("avx512f")))
static void
load_rounds_avx512(const Cell *c, long rounds)
{
	for (long r = 0; r < rounds; r++)
	{
		for (int v = 1; v <= NVEC; v++)
			for (int i = 0; i < c->n; i += 16)
			{
				__m512		q = _mm512_loadu_ps(c->f + i);
				__m512		x = _mm512_loadu_ps(c->f + v * c->n + i);

				__asm__ volatile("" : : "v"(q), "v"(x));
			}
		__asm__ volatile("" ::: "memory");
	}
}

__attribute__((target("avx2")))
static void
load_rounds_avx2(const Cell *c, long rounds)
{
	for (long r = 0; r < rounds; r++)
	{
		for (int v = 1; v <= NVEC; v++)
			for (int i = 0; i < c->n; i += 16)
			{
				__m256		q0 = _mm256_loadu_ps(c->f + i);
				__m256		q1 = _mm256_loadu_ps(c->f + i + 8);
				__m256		x0 = _mm256_loadu_ps(c->f + v * c->n + i);
				__m256		x1 = _mm256_loadu_ps(c->f + v * c->n + i + 8);

				__asm__ volatile("" : : "x"(q0), "x"(q1), "x"(x0), "x"(x1));
			}
		__asm__ volatile("" ::: "memory");
	}
}
#endif

/*
 * Compare the query with each stored vector, rounds times.  The branches
 * go the same way on every call, so prediction makes them nearly free.
 * Returns the sum of the distances.
 */
static double
kernel_rounds(const Cell *c, long rounds)
{
	const AnnKernels *k = c->k;
	int			n = c->n;
	double		sum = 0;

	for (long r = 0; r < rounds; r++)
		for (int v = 1; v <= NVEC; v++)
		{
			const float *x = c->f + v * n;
			const AnnHalf *hx = c->h + v * n;

			if (c->metric == METRIC_L2)
				sum += c->half ? k->half_l2_squared(c->h, hx, n) : k->l2_squared(c->f, x, n);
			else if (c->metric == METRIC_IP)
				sum += c->half ? k->half_inner_product(c->h, hx, n) : k->inner_product(c->f, x, n);
			else
				sum += c->half ? k->half_cosine(c->h, hx, n) : k->cosine(c->f, x, n);
		}
	return sum;
}

/* Wall-clock nanoseconds for rounds rounds of a cell. */
static double
time_rounds(const Cell *c, long rounds)
{
	struct timespec start,
				end;

	clock_gettime(CLOCK_MONOTONIC, &start);
#ifdef __x86_64__
	if (c->metric == METRIC_LOAD && c->k->level == ANN_SIMD_AVX512)
		load_rounds_avx512(c, rounds);
	else if (c->metric == METRIC_LOAD)
		load_rounds_avx2(c, rounds);
	else
#endif
		sink += kernel_rounds(c, rounds);
	clock_gettime(CLOCK_MONOTONIC, &end);
	return (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Median ns per call of a cell, or NAN if it was not measured. */
static double
cell_median(Cell *c, int nsamples)
{
	if (c->k == NULL)
		return NAN;
	qsort(c->ns, nsamples, sizeof(double), cmp_double);
	return (c->ns[(nsamples - 1) / 2] + c->ns[nsamples / 2]) / 2;
}

/*
 * Fill each dimension's data (values in [-1, 1) from a fixed xorshift
 * sequence) and calibrate every cell this CPU runs: double the rounds
 * until a run is long enough to time, which also warms caches and branch
 * predictors, then scale to SAMPLE_NS.  "loads only" is float32 and SIMD.
 */
static void
setup_cells(void)
{
	uint64		state = 0x9e3779b97f4a7c15ULL;

	for (int d = 0; d < NDIMS; d++)
	{
		size_t		count = (size_t) (NVEC + 1) * dims[d];
		float	   *f = aligned_alloc(64, TYPEALIGN(64, count * sizeof(float)));
		AnnHalf    *h = aligned_alloc(64, TYPEALIGN(64, count * sizeof(AnnHalf)));

		for (size_t i = 0; i < count; i++)
		{
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			f[i] = (float) ((double) (state >> 11) / (double) (1ULL << 52) - 1.0);
			h[i] = AnnFloatToHalf(f[i]);
		}
		for (int m = 0; m < NMETRICS; m++)
			for (int half = 0; half <= 1; half++)
				for (int level = 0; level < ANN_SIMD_NLEVELS; level++)
				{
					Cell	   *c = &cells[d][m][half][level];
					long		rounds = 1;
					double		elapsed;

					*c = (Cell) {.k = AnnKernelsForLevel((AnnSimdLevel) level),
						.metric = m, .half = half, .n = dims[d], .f = f, .h = h};
					if (m == METRIC_LOAD && (half || level == ANN_SIMD_SCALAR))
						c->k = NULL;
					if (c->k == NULL)
						continue;
					while ((elapsed = time_rounds(c, rounds)) < SAMPLE_NS / 10)
						rounds *= 2;
					c->rounds = Max(1, (long) (rounds * SAMPLE_NS / elapsed));
				}
	}
}

/* One table row: ns, GB/s and speedup over scalar at each level. */
static void
print_row(int d, int m, int half, int nsamples)
{
	double		bytes = 2.0 * dims[d] * (half ? sizeof(AnnHalf) : sizeof(float));
	double		ns[ANN_SIMD_NLEVELS];

	printf("| %d | %s | %s |", dims[d], metric_names[m], half ? "f16" : "f32");
	for (int level = 0; level < ANN_SIMD_NLEVELS; level++)
	{
		ns[level] = cell_median(&cells[d][m][half][level], nsamples);
		if (isnan(ns[level]))
			printf(" - | - |");
		else
			printf(" %.1f | %.1f |", ns[level], bytes / ns[level]);
		if (level > 0 && !isnan(ns[0] / ns[level]))
			printf(" %.1fx |", ns[0] / ns[level]);
		else if (level > 0)
			printf(" - |");
	}
	printf("\n");
}

int
main(int argc, char **argv)
{
	int			nsamples = argc > 1 ? atoi(argv[1]) : DEFAULT_SAMPLES;
	Cell	   *all = &cells[0][0][0][0];
	Cell	   *l2 = cells[HEADLINE_DIM][METRIC_L2][0];
	Cell	   *load = cells[HEADLINE_DIM][METRIC_LOAD][0];
	double		avx512_ns;

	if (nsamples < 1 || nsamples > MAX_SAMPLES)
	{
		fprintf(stderr, "usage: %s [samples, 1..%d]\n", argv[0], MAX_SAMPLES);
		return 1;
	}
	setup_cells();
	for (int pass = 0; pass < nsamples; pass++)
		for (int i = 0; i < NCELLS; i++)
			if (all[i].k != NULL)
				all[i].ns[pass] = time_rounds(&all[i], all[i].rounds) / (all[i].rounds * NVEC);

	printf("best level %s; %d vectors per query; ns per call, median of %d samples of ~%.0f ms\n\n",
		   AnnSimdLevelName(AnnBestSimdLevel()), NVEC, nsamples, SAMPLE_NS / 1e6);
	printf("| dims | kernel | type | scalar ns | scalar GB/s | avx2 ns | avx2 GB/s"
		   " | avx2 speedup | avx512 ns | avx512 GB/s | avx512 speedup |\n");
	printf("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int d = 0; d < NDIMS; d++)
		for (int m = 0; m < NMETRICS; m++)
			for (int half = 0; half <= (m == METRIC_LOAD ? 0 : 1); half++)
				print_row(d, m, half, nsamples);

	/* same bytes per call, so the ratio of GB/s is the inverse ratio of ns */
	avx512_ns = cell_median(&l2[ANN_SIMD_AVX512], nsamples);
	printf("\navx512 f32 L2 at %d dims: %.1fx scalar, %.2f of the avx512 load bandwidth\n",
		   dims[HEADLINE_DIM], cell_median(&l2[ANN_SIMD_SCALAR], nsamples) / avx512_ns,
		   cell_median(&load[ANN_SIMD_AVX512], nsamples) / avx512_ns);
	return 0;
}
