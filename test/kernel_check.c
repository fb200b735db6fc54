/*
 * kernel_check.c
 *		Compare every SIMD kernel set this CPU runs with the scalar one.
 *
 * For each length 1..MAX_DIMS and several misaligned starting offsets:
 *
 *  - on small integer data every sum is exact in float32, so every level
 *    must return exactly the scalar result;
 *  - on random real data each level must lie within the rigorous bound on
 *    float32 summation error, (n + 2) * 2^-24 * sum(|term|), of a double
 *    precision reference.
 *
 * Also checks the float16 conversions on all 65,536 bit patterns, and
 * for the RaBitQ codes (codes.c): that every level's popcount kernel
 * equals the scalar one, that the rotation keeps lengths and inner
 * products, and that the estimates' error bounds hold for all but a
 * small share of random vectors.  Output is TAP, one line per kernel set
 * and check.
 */
#include "postgres_fe.h"

#include "codes.h"
#include "distance.h"

#define MAX_DIMS 2048
#define MAX_OFFSET 3
#define BUFFER_LEN (MAX_DIMS + 16)

static int	tests_run = 0;
static int	tests_failed = 0;

static void
report(bool ok, const char *what, const char *level, const char *detail)
{
	tests_run++;
	if (!ok)
		tests_failed++;
	printf("%s %d - %s [%s]%s%s\n", ok ? "ok" : "not ok", tests_run, what, level,
		   detail[0] ? " # " : "", detail);
}

/* xorshift: a fixed, portable sequence */
static uint64 rng_state = 0x9e3779b97f4a7c15ULL;

static double
next_uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double) (rng_state >> 11) / (double) (1ULL << 53);
}

typedef struct Reference
{
	double		l2,
				ip,
				l1,
				cosine;
	double		l2_bound,		/* sum of |term| for each sum */
				ip_bound,
				l1_bound;
} Reference;

static Reference
reference_of(const float *a, const float *b, int n)
{
	Reference	r = {0};
	double		na = 0,
				nb = 0;

	for (int i = 0; i < n; i++)
	{
		double		d = (double) a[i] - b[i];

		r.l2 += d * d;
		r.ip += (double) a[i] * b[i];
		r.l1 += fabs(d);
		r.ip_bound += fabs((double) a[i] * b[i]);
		na += (double) a[i] * a[i];
		nb += (double) b[i] * b[i];
	}
	r.l2_bound = r.l2;
	r.l1_bound = r.l1;
	r.cosine = AnnCosineFromParts(r.ip, na, nb);
	return r;
}

static bool
within(double got, double want, double magnitude, int n)
{
	double		bound = (n + 2) * ldexp(1.0, -24) * magnitude * 1.0001;

	return fabs(got - want) <= bound;
}

/* Float32 kernels of one level on random data; false on first mismatch. */
static bool
check_float_random(const AnnKernels *k, float *a, float *b, char *detail)
{
	for (int n = 1; n <= MAX_DIMS; n++)
		for (int off = 0; off <= MAX_OFFSET; off++)
		{
			const float *x = a + off;
			const float *y = b + (MAX_OFFSET - off);
			Reference	r = reference_of(x, y, n);
			double		na = 0,
						nb = 0;

			for (int i = 0; i < n; i++)
			{
				na += (double) x[i] * x[i];
				nb += (double) y[i] * y[i];
			}
			if (!within(k->l2_squared(x, y, n), r.l2, r.l2_bound, n) ||
				!within(k->inner_product(x, y, n), r.ip, r.ip_bound, n) ||
				!within(k->l1(x, y, n), r.l1, r.l1_bound, n) ||
				fabs(k->cosine(x, y, n) - r.cosine) >
				4.0 * (n + 2) * ldexp(1.0, -24) * (r.ip_bound + sqrt(na * nb)) / sqrt(na * nb))
			{
				snprintf(detail, 200, "n=%d offset=%d", n, off);
				return false;
			}
		}
	return true;
}

/* Float32 and float16 kernels of one level on exact data. */
static bool
check_exact(const AnnKernels *k, const AnnKernels *s, float *a, float *b,
			AnnHalf *ha, AnnHalf *hb, char *detail)
{
	for (int n = 1; n <= MAX_DIMS; n++)
		for (int off = 0; off <= MAX_OFFSET; off++)
		{
			const float *x = a + off;
			const float *y = b + (MAX_OFFSET - off);
			const AnnHalf *hx = ha + off;
			const AnnHalf *hy = hb + (MAX_OFFSET - off);
			double		cos_k = k->cosine(x, y, n),
						cos_s = s->cosine(x, y, n);
			double		hcos_k = k->half_cosine(hx, hy, n),
						hcos_s = s->half_cosine(hx, hy, n);

			if (k->l2_squared(x, y, n) != s->l2_squared(x, y, n) ||
				k->inner_product(x, y, n) != s->inner_product(x, y, n) ||
				k->l1(x, y, n) != s->l1(x, y, n) ||
				!(cos_k == cos_s || (isnan(cos_k) && isnan(cos_s))) ||
				k->half_l2_squared(hx, hy, n) != s->half_l2_squared(hx, hy, n) ||
				k->half_inner_product(hx, hy, n) != s->half_inner_product(hx, hy, n) ||
				k->half_l1(hx, hy, n) != s->half_l1(hx, hy, n) ||
				!(hcos_k == hcos_s || (isnan(hcos_k) && isnan(hcos_s))))
			{
				snprintf(detail, 200, "n=%d offset=%d", n, off);
				return false;
			}
		}
	return true;
}

/* Float16 kernels on random halves, against the float32 reference. */
static bool
check_half_random(const AnnKernels *k, AnnHalf *ha, AnnHalf *hb, char *detail)
{
	static float fa[BUFFER_LEN],
				fb[BUFFER_LEN];

	for (int i = 0; i < BUFFER_LEN; i++)
	{
		fa[i] = AnnHalfToFloat(ha[i]);
		fb[i] = AnnHalfToFloat(hb[i]);
	}
	for (int n = 1; n <= MAX_DIMS; n++)
		for (int off = 0; off <= MAX_OFFSET; off++)
		{
			int			boff = MAX_OFFSET - off;
			Reference	r = reference_of(fa + off, fb + boff, n);

			if (!within(k->half_l2_squared(ha + off, hb + boff, n), r.l2, r.l2_bound, n) ||
				!within(k->half_inner_product(ha + off, hb + boff, n), r.ip, r.ip_bound, n) ||
				!within(k->half_l1(ha + off, hb + boff, n), r.l1, r.l1_bound, n))
			{
				snprintf(detail, 200, "n=%d offset=%d", n, off);
				return false;
			}
		}
	return true;
}

/* half -> float of every pattern matches the scalar conversion, bit for bit */
static bool
check_half_to_float(const AnnKernels *k, char *detail)
{
	static AnnHalf all[65536 + 3];
	static float out[65536 + 3];

	for (int off = 0; off <= 3; off++)
	{
		for (int i = 0; i < 65536; i++)
			all[off + i] = (AnnHalf) i;
		k->half_to_float(all + off, out, 65536);
		for (int i = 0; i < 65536; i++)
		{
			float		want = AnnHalfToFloat((AnnHalf) i);

			if (memcmp(&want, &out[i], sizeof(float)) != 0 &&
				!(isnan(want) && isnan(out[i])))
			{
				snprintf(detail, 200, "pattern 0x%04x offset=%d", i, off);
				return false;
			}
		}
	}
	return true;
}

/* Every non-NaN half survives half -> float -> half unchanged. */
static bool
check_half_round_trip(char *detail)
{
	for (int i = 0; i < 65536; i++)
	{
		AnnHalf		h = (AnnHalf) i;
		float		f = AnnHalfToFloat(h);

		if (isnan(f))
			continue;
		if (AnnFloatToHalf(f) != h)
		{
			snprintf(detail, 200, "pattern 0x%04x", i);
			return false;
		}
	}
	/* rounding: ties go to even, overflow goes to infinity */
	if (AnnFloatToHalf(65504.0f) != 0x7bff || AnnFloatToHalf(65519.0f) != 0x7bff ||
		!AnnHalfIsInf(AnnFloatToHalf(65520.0f)) ||
		AnnFloatToHalf(1.0f + ldexpf(1.0f, -11)) != 0x3c00 ||
		AnnFloatToHalf(1.0f + 3 * ldexpf(1.0f, -11)) != 0x3c02 ||
		AnnFloatToHalf(ldexpf(1.0f, -25)) != 0 ||
		AnnFloatToHalf(ldexpf(1.5f, -25)) != 1 ||
		AnnFloatToHalf(-ldexpf(1.0f, -24)) != 0x8001)
	{
		snprintf(detail, 200, "rounding edge cases");
		return false;
	}
	return true;
}

/* every word count up to 40, code and planes one word off alignment */
static bool
check_code_dot(const AnnCodeKernels *k, const AnnCodeKernels *scalar, char *detail)
{
	static uint64 code[41],
				planes[4 * 40 + 1];

	for (int i = 0; i < 41; i++)
		code[i] = rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	for (int i = 0; i < 4 * 40 + 1; i++)
		planes[i] = rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	for (int words = 1; words <= 40; words++)
	{
		uint32		want = scalar->dot(code + 1, planes + 1, words);
		uint32		got = k->dot(code + 1, planes + 1, words);

		if (got != want)
		{
			sprintf(detail, "%d words: %u, scalar %u", words, got, want);
			return false;
		}
	}
	return true;
}

static const int code_dims[] = {1, 3, 63, 64, 65, 100, 784, 1536, 3072, 16000};

/* |Pa| = |a| and <Pa, Pb> = <a, b>, to float32 rounding */
static bool
check_rotation(char *detail)
{
	for (int d = 0; d < (int) lengthof(code_dims); d++)
	{
		int			dims = code_dims[d];
		int			padded = AnnCodePadded(dims);
		AnnRotation *rotation = malloc(AnnRotationSize(dims));
		float	   *a = malloc(sizeof(float) * dims);
		float	   *b = malloc(sizeof(float) * dims);
		float	   *pa = malloc(sizeof(float) * padded);
		float	   *pb = malloc(sizeof(float) * padded);
		double		aa = 0, ab = 0, bb = 0, paa = 0, pab = 0;
		bool		ok;

		AnnRotationInit(rotation, dims, 42);
		for (int i = 0; i < dims; i++)
		{
			a[i] = (float) (next_uniform() * 2 - 1);
			b[i] = (float) (next_uniform() * 2 - 1);
			aa += (double) a[i] * a[i];
			ab += (double) a[i] * b[i];
			bb += (double) b[i] * b[i];
		}
		AnnRotate(rotation, a, pa);
		AnnRotate(rotation, b, pb);
		for (int i = 0; i < padded; i++)
		{
			paa += (double) pa[i] * pa[i];
			pab += (double) pa[i] * pb[i];
		}
		ok = fabs(paa - aa) <= 1e-4 * aa && fabs(pab - ab) <= 1e-4 * sqrt(aa * bb);
		if (!ok)
			sprintf(detail, "%d dimensions: |a|^2 %g -> %g, <a,b> %g -> %g", dims, aa, paa, ab, pab);
		free(rotation);
		free(a);
		free(b);
		free(pa);
		free(pb);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Codes of 200 vectors around a centre, estimated for 20 queries: the
 * true <o, q_n> must lie within the error bound for at least 99% of the
 * pairs, and the squared L2 distance at or above its lower bound as
 * often.  Vectors and queries are the centre plus uniform noise, with a
 * shared component so that their inner products are not all near 0.
 */
static bool
check_estimates(const AnnCodeKernels *k, int dims, char *detail)
{
	enum
	{
		NVECTORS = 200, NQUERIES = 20
	};
	int			padded = AnnCodePadded(dims);
	int			words = padded / 64;
	AnnRotation *rotation = malloc(AnnRotationSize(dims));
	AnnCodeQuery *query = malloc(AnnCodeQuerySize(padded));
	float	   *raw = malloc(sizeof(float) * dims);
	float	   *shared = malloc(sizeof(float) * dims);
	float	   *centre = malloc(sizeof(float) * padded);
	float	   *vectors = malloc(sizeof(float) * padded * NVECTORS);
	float	   *q = malloc(sizeof(float) * padded);
	uint64	   *codes = malloc(sizeof(uint64) * words * NVECTORS);
	AnnCodeFactors *factors = malloc(sizeof(AnnCodeFactors) * NVECTORS);
	int			outside = 0,
				below = 0;
	double		abs_error = 0;
	bool		ok;

	AnnRotationInit(rotation, dims, 7);
	for (int i = 0; i < dims; i++)
	{
		raw[i] = (float) (next_uniform() * 2 - 1);
		shared[i] = (float) (next_uniform() * 2 - 1);
	}
	AnnRotate(rotation, raw, centre);
	for (int v = 0; v < NVECTORS; v++)
	{
		for (int i = 0; i < dims; i++)
			raw[i] = (float) (next_uniform() * 2 - 1) + 0.5f * shared[i];
		AnnRotate(rotation, raw, vectors + (size_t) v * padded);
		for (int i = 0; i < padded; i++)
			vectors[(size_t) v * padded + i] += centre[i];
		AnnEncode(vectors + (size_t) v * padded, centre, padded, codes + (size_t) v * words,
				  &factors[v]);
	}
	for (int n = 0; n < NQUERIES; n++)
	{
		for (int i = 0; i < dims; i++)
			raw[i] = (float) (next_uniform() * 2 - 1) + 0.5f * shared[i];
		AnnRotate(rotation, raw, q);
		for (int i = 0; i < padded; i++)
			q[i] += centre[i];
		AnnCodeQueryPrepare(query, q, centre, padded);
		for (int v = 0; v < NVECTORS; v++)
		{
			const float *x = vectors + (size_t) v * padded;
			double		dot = 0,
						l2 = 0;
			float		error,
						lower,
						estimate;

			for (int i = 0; i < padded; i++)
			{
				dot += (double) (x[i] - centre[i]) * (q[i] - centre[i]);
				l2 += (double) (x[i] - q[i]) * (x[i] - q[i]);
			}
			dot /= (double) factors[v].norm * query->norm;
			estimate = AnnCodeEstimate(query, &factors[v],
									   k->dot(codes + (size_t) v * words, query->planes, words),
									   &error);
			AnnCodeL2Squared(query, &factors[v], estimate, error, &lower);
			abs_error += fabs(estimate - dot);
			outside += fabs(estimate - dot) > error;
			below += l2 < lower * (1 - 1e-5);
		}
	}
	abs_error /= NVECTORS * NQUERIES;
	ok = outside <= NVECTORS * NQUERIES / 100 && below <= NVECTORS * NQUERIES / 100 &&
		abs_error < 2.0 / sqrt((double) padded);
	sprintf(detail, "%d dimensions: %d of %d outside the bound, %d below the L2 bound, mean error %.4f",
			dims, outside, NVECTORS * NQUERIES, below, abs_error);
	free(rotation);
	free(query);
	free(raw);
	free(shared);
	free(centre);
	free(vectors);
	free(q);
	free(codes);
	free(factors);
	return ok;
}

int
main(void)
{
	static float exact_a[BUFFER_LEN],
				exact_b[BUFFER_LEN],
				rand_a[BUFFER_LEN],
				rand_b[BUFFER_LEN];
	static AnnHalf exact_ha[BUFFER_LEN],
				exact_hb[BUFFER_LEN],
				rand_ha[BUFFER_LEN],
				rand_hb[BUFFER_LEN];
	const AnnKernels *scalar = AnnKernelsForLevel(ANN_SIMD_SCALAR);
	char		detail[200] = "";

	for (int i = 0; i < BUFFER_LEN; i++)
	{
		/* integers in [-3, 3]: products and sums stay exact */
		exact_a[i] = (float) ((int) (next_uniform() * 7) - 3);
		exact_b[i] = (float) ((int) (next_uniform() * 7) - 3);
		exact_ha[i] = AnnFloatToHalf(exact_a[i]);
		exact_hb[i] = AnnFloatToHalf(exact_b[i]);
		rand_a[i] = (float) (next_uniform() * 2 - 1) * 100.0f;
		rand_b[i] = (float) (next_uniform() * 2 - 1) * 100.0f;
		rand_ha[i] = AnnFloatToHalf((float) (next_uniform() * 2 - 1));
		rand_hb[i] = AnnFloatToHalf((float) (next_uniform() * 2 - 1));
	}

	printf("# best level on this CPU: %s\n", AnnSimdLevelName(AnnBestSimdLevel()));
	detail[0] = '\0';
	report(check_half_round_trip(detail), "float16 conversion round trip", "scalar", detail);

	for (int level = 0; level < ANN_SIMD_NLEVELS; level++)
	{
		const AnnKernels *k = AnnKernelsForLevel((AnnSimdLevel) level);
		const char *name = AnnSimdLevelName((AnnSimdLevel) level);

		if (k == NULL)
		{
			printf("# level %s not supported by this CPU\n", name);
			continue;
		}
		detail[0] = '\0';
		report(check_exact(k, scalar, exact_a, exact_b, exact_ha, exact_hb, detail),
			   "exact data equals scalar", name, detail);
		detail[0] = '\0';
		report(check_float_random(k, rand_a, rand_b, detail),
			   "float32 random data within error bound", name, detail);
		detail[0] = '\0';
		report(check_half_random(k, rand_ha, rand_hb, detail),
			   "float16 random data within error bound", name, detail);
		detail[0] = '\0';
		report(check_half_to_float(k, detail), "float16 widening", name, detail);
	}
	detail[0] = '\0';
	report(check_rotation(detail), "code rotation keeps lengths and inner products", "scalar",
		   detail);
	for (int level = 0; level < ANN_SIMD_NLEVELS; level++)
	{
		const AnnCodeKernels *k = AnnCodeKernelsForLevel((AnnSimdLevel) level);
		const char *name = AnnSimdLevelName((AnnSimdLevel) level);

		if (k == NULL)
			continue;
		printf("# code kernels for level %s: %s\n", name, k->name);
		detail[0] = '\0';
		report(check_code_dot(k, AnnCodeKernelsForLevel(ANN_SIMD_SCALAR), detail),
			   "code popcount kernel equals scalar", name, detail);
		for (int d = 0; d < 3; d++)
		{
			detail[0] = '\0';
			report(check_estimates(k, (int[]) {128, 784, 1536}[d], detail),
				   "code estimates within their error bounds", name, detail);
		}
	}
	printf("1..%d\n", tests_run);
	return tests_failed == 0 ? 0 : 1;
}
