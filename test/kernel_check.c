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
 * The bit-string kernels (Hamming, Jaccard) of every level must give
 * exactly the counts of a bytewise reference, for every length 1..MAX_BITS
 * bits and starts at every byte offset 0..7, on random, sparse, all-ones,
 * all-zeros and identical strings, reading nothing outside the strings.
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

/*
 * The kernels for many operands against the pair kernels, bit for bit:
 * count keys of n elements, stride elements apart (a stride of n + 1
 * leaves the keys unaligned), from b.
 */
static bool
check_many(const AnnKernels *k, const float *a, const float *b, const AnnHalf *ha,
		   const AnnHalf *hb, char *detail)
{
	float		got[8];

	for (int n = 1; n <= MAX_DIMS; n++)
		for (int count = 0; count <= 5; count++)
		{
			size_t		stride = n + (count % 2);

			if (stride * count > BUFFER_LEN)
				continue;
			k->l2_squared_many(a, (const char *) b, stride * sizeof(float), count, n, got);
			for (int i = 0; i < count; i++)
				if (got[i] != k->l2_squared(a, b + stride * i, n))
					goto mismatch;
			k->inner_product_many(a, (const char *) b, stride * sizeof(float), count, n, got);
			for (int i = 0; i < count; i++)
				if (got[i] != k->inner_product(a, b + stride * i, n))
					goto mismatch;
			k->half_l2_squared_many(ha, (const char *) hb, stride * sizeof(AnnHalf), count, n,
									got);
			for (int i = 0; i < count; i++)
				if (got[i] != k->half_l2_squared(ha, hb + stride * i, n))
					goto mismatch;
			k->half_inner_product_many(ha, (const char *) hb, stride * sizeof(AnnHalf), count,
									   n, got);
			for (int i = 0; i < count; i++)
				if (got[i] != k->half_inner_product(ha, hb + stride * i, n))
					goto mismatch;
			continue;
	mismatch:
			snprintf(detail, 200, "n=%d count=%d", n, count);
			return false;
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

#define MAX_BITS 4096
#define MAX_BIT_OFFSET 7
#define BIT_BUFFER_LEN (MAX_BITS / 8 + 2 * MAX_BIT_OFFSET + 1)

/* Bits set in each byte value, counted one bit at a time */
static int	ones_in_byte[256];

/*
 * The first nbits bits of src at dst, with the unused bits of the last
 * byte cleared, as PostgreSQL keeps them in a bit string.
 */
static void
copy_bits(uint8 *dst, const uint8 *src, int nbits)
{
	int			bytes = (nbits + 7) / 8;

	memcpy(dst, src, bytes);
	if (nbits % 8 != 0)
		dst[bytes - 1] &= (uint8) (0xff << (8 - nbits % 8));
}

/*
 * One level's bit kernels on one pair of bit patterns, against bytewise
 * counts.  The bytes around the first string are 0xff and those around
 * the second zero, so a kernel that read outside them would count more
 * bits set in the first, and in their XOR.
 */
static bool
check_bits_pair(const AnnKernels *k, const uint8 *src_a, const uint8 *src_b, char *detail)
{
	static uint8 a[BIT_BUFFER_LEN],
				b[BIT_BUFFER_LEN];

	for (int nbits = 1; nbits <= MAX_BITS; nbits++)
		for (int off = 0; off <= MAX_BIT_OFFSET; off++)
		{
			int			bytes = (nbits + 7) / 8;
			uint8	   *x = a + off;
			uint8	   *y = b + (MAX_BIT_OFFSET - off);
			uint64		differ = 0,
						both = 0,
						ones_a = 0,
						ones_b = 0;
			uint64		hamming;
			double		jaccard;

			memset(a, 0xff, sizeof(a));
			memset(b, 0, sizeof(b));
			copy_bits(x, src_a, nbits);
			copy_bits(y, src_b, nbits);
			for (int i = 0; i < bytes; i++)
			{
				differ += ones_in_byte[x[i] ^ y[i]];
				both += ones_in_byte[x[i] & y[i]];
				ones_a += ones_in_byte[x[i]];
				ones_b += ones_in_byte[y[i]];
			}
			hamming = k->bit_hamming(x, y, bytes);
			jaccard = k->bit_jaccard(x, y, bytes);
			if (hamming != differ || jaccard != AnnJaccardFromCounts(both, ones_a, ones_b))
			{
				snprintf(detail, 200, "%d bits, offset %d: hamming %llu (want %llu), jaccard %.17g",
						 nbits, off, (unsigned long long) hamming,
						 (unsigned long long) differ, jaccard);
				return false;
			}
		}
	return true;
}

/* One level's bit kernels on every kind of bit pattern */
static bool
check_bits(const AnnKernels *k, char *detail)
{
	static uint8 random_a[MAX_BITS / 8],
				random_b[MAX_BITS / 8],
				sparse_a[MAX_BITS / 8],
				sparse_b[MAX_BITS / 8],
				ones[MAX_BITS / 8],
				zeros[MAX_BITS / 8];
	uint64		saved_state = rng_state;
	bool		ok;

	for (int v = 0; v < 256; v++)
	{
		ones_in_byte[v] = 0;
		for (int bit = 0; bit < 8; bit++)
			ones_in_byte[v] += (v >> bit) & 1;
	}
	/* the same patterns for every level */
	rng_state = 0x2545f4914f6cdd1dULL;
	for (int i = 0; i < MAX_BITS / 8; i++)
	{
		random_a[i] = (uint8) (next_uniform() * 256);
		random_b[i] = (uint8) (next_uniform() * 256);
		sparse_a[i] = next_uniform() < 0.1 ? (uint8) (1 << (int) (next_uniform() * 8)) : 0;
		sparse_b[i] = next_uniform() < 0.1 ? (uint8) (1 << (int) (next_uniform() * 8)) : 0;
		ones[i] = 0xff;
		zeros[i] = 0;
	}
	rng_state = saved_state;
	ok = check_bits_pair(k, random_a, random_b, detail) &&
		check_bits_pair(k, sparse_a, sparse_b, detail) &&
		check_bits_pair(k, random_a, random_a, detail) &&
		check_bits_pair(k, ones, random_b, detail) &&
		check_bits_pair(k, ones, ones, detail) &&
		check_bits_pair(k, zeros, zeros, detail) &&
		check_bits_pair(k, zeros, sparse_b, detail);
	return ok;
}

/*
 * The transform of rotations, at every power of two from 64 to 8,192 (the
 * block of 16,000 dimensions): bit for bit the scalar one's.
 */
static bool
check_code_hadamard(const AnnCodeKernels *k, const AnnCodeKernels *scalar, char *detail)
{
	static float want[8192],
				got[8192];

	for (int n = 64; n <= 8192; n *= 2)
	{
		for (int i = 0; i < n; i++)
			want[i] = got[i] = (float) (next_uniform() * 2 - 1);
		scalar->hadamard(want, n);
		k->hadamard(got, n);
		if (memcmp(want, got, sizeof(float) * n) != 0)
		{
			sprintf(detail, "%d floats: the transforms differ", n);
			return false;
		}
	}
	return true;
}

/*
 * The query's levels at every word count up to 40, one float off
 * alignment, from a residual spread over the levels with coordinates on
 * and past both ends: the kernel's planes and sum against the scalar
 * one's, and the scalar one's against the levels computed here.
 */
static bool
check_code_quantize(const AnnCodeKernels *k, const AnnCodeKernels *scalar, char *detail)
{
	static float q[64 * 40 + 1],
				centre[64 * 40 + 1];
	static uint64 want[4 * 40],
				got[4 * 40];

	for (int i = 0; i < 64 * 40 + 1; i++)
	{
		q[i] = (float) (next_uniform() * 2.4 - 1.2);
		centre[i] = (float) (next_uniform() * 0.2 - 0.1);
	}
	for (int words = 1; words <= 40; words++)
	{
		int			padded = 64 * words;
		float		inverse = 1.0f / (float) words;
		float		lo = -1.0f / (float) words;
		float		to_level = 7.5f * (float) words;
		uint32		want_sum = scalar->quantize(q + 1, centre + 1, padded, inverse, lo, to_level, want);
		uint32		got_sum = k->quantize(q + 1, centre + 1, padded, inverse, lo, to_level, got);
		uint32		counted = 0;

		for (int i = 0; i < padded; i++)
		{
			float		level = ((q[1 + i] - centre[1 + i]) * inverse - lo) * to_level + 0.5f;
			uint32		u = level <= 0 ? 0 : level >= 15 ? 15 : (uint32) level;

			for (int j = 0; j < 4; j++)
				if (((want[j * words + i / 64] >> (i % 64)) & 1) != ((u >> j) & 1))
				{
					sprintf(detail, "%d words: scalar level of coordinate %d is not %u", words, i, u);
					return false;
				}
			counted += u;
		}
		if (want_sum != counted || got_sum != want_sum ||
			memcmp(want, got, sizeof(uint64) * 4 * words) != 0)
		{
			sprintf(detail, "%d words: sums %u (kernel), %u (scalar), %u (counted), planes %s",
					words, got_sum, want_sum, counted,
					memcmp(want, got, sizeof(uint64) * 4 * words) == 0 ? "equal" : "differ");
			return false;
		}
	}
	return true;
}

/*
 * every word count up to 40 and every number of bits, code and planes one
 * word off alignment; the scalar kernel against a count bit by bit
 */
static bool
check_code_dot(const AnnCodeKernels *k, const AnnCodeKernels *scalar, char *detail)
{
	static uint64 code[ANN_CODE_MAX_BITS * 40 + 1],
				planes[4 * 40 + 1];

	for (int i = 0; i < ANN_CODE_MAX_BITS * 40 + 1; i++)
		code[i] = rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	for (int i = 0; i < 4 * 40 + 1; i++)
		planes[i] = rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	for (int bits = 1; bits <= ANN_CODE_MAX_BITS; bits++)
		for (int words = 1; words <= 40; words++)
		{
			uint32		want = scalar->dot(code + 1, bits, planes + 1, words);
			uint32		got = k->dot(code + 1, bits, planes + 1, words);
			uint32		counted = 0;

			for (int i = 0; i < 64 * words; i++)
			{
				uint32		level = 0,
							u = 0;

				for (int b = 0; b < bits; b++)
					level |= (uint32) ((code[1 + b * words + i / 64] >> (i % 64)) & 1) << b;
				for (int j = 0; j < 4; j++)
					u |= (uint32) ((planes[1 + j * words + i / 64] >> (i % 64)) & 1) << j;
				counted += level * u;
			}
			if (got != want || want != counted)
			{
				sprintf(detail, "%d bits, %d words: %u, scalar %u, counted %u", bits, words, got,
						want, counted);
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
 * Codes of bits bits of 200 vectors around a centre, estimated for 20
 * queries: the true <o, q_n> must lie within the error bound for at
 * least 99% of the pairs, and the squared L2 distance at or above its
 * lower bound as often; the mean error must fall as bits grow (below
 * 2 / sqrt(padded) for one bit, halved for every bit up to four, where
 * the query's own 4-bit quantization takes over).  Vectors and queries
 * are the centre plus uniform noise, with a shared component so that
 * their inner products are not all near 0.
 */
static bool
check_estimates(const AnnCodeKernels *k, int dims, int bits, char *detail)
{
	enum
	{
		NVECTORS = 200, NQUERIES = 20
	};
	int			padded = AnnCodePadded(dims);
	int			words = padded / 64 * bits;
	AnnRotation *rotation = malloc(AnnRotationSize(dims));
	AnnCodeQuery *query = malloc(AnnCodeQuerySize(padded));
	float	   *raw = malloc(sizeof(float) * dims);
	float	   *shared = malloc(sizeof(float) * dims);
	float	   *centre = malloc(sizeof(float) * padded);
	float	   *vectors = malloc(sizeof(float) * padded * NVECTORS);
	float	   *q = malloc(sizeof(float) * padded);
	uint64	   *codes = malloc(sizeof(uint64) * words * NVECTORS);
	AnnCodeFactors *factors = malloc(sizeof(AnnCodeFactors) * NVECTORS);
	float	   *lengths = malloc(sizeof(float) * NVECTORS);
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
		lengths[v] = AnnEncode(vectors + (size_t) v * padded, centre, padded, bits,
							   codes + (size_t) v * words, &factors[v]);
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
			estimate = AnnCodeEstimate(query, &factors[v], lengths[v], bits,
									   k->dot(codes + (size_t) v * words, bits, query->planes,
											  padded / 64),
									   &error);
			AnnCodeL2Squared(query, &factors[v], estimate, error, &lower);
			abs_error += fabs(estimate - dot);
			outside += fabs(estimate - dot) > error;
			below += l2 < lower * (1 - 1e-5);
		}
	}
	abs_error /= NVECTORS * NQUERIES;
	ok = outside <= NVECTORS * NQUERIES / 100 && below <= NVECTORS * NQUERIES / 100 &&
		abs_error < 2.0 / sqrt((double) padded) / (1 << (Min(bits, 4) - 1));
	sprintf(detail, "%d dimensions, %d bits: %d of %d outside the bound, %d below the L2 bound, mean error %.4f",
			dims, bits, outside, NVECTORS * NQUERIES, below, abs_error);
	free(rotation);
	free(query);
	free(raw);
	free(shared);
	free(centre);
	free(vectors);
	free(q);
	free(codes);
	free(factors);
	free(lengths);
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
		detail[0] = '\0';
		report(check_many(k, rand_a, rand_b, rand_ha, rand_hb, detail),
			   "kernels for many operands equal the pair kernels", name, detail);
		printf("# bit kernels for level %s: %s\n", name, k->bit_name);
		detail[0] = '\0';
		report(check_bits(k, detail), "bit kernels equal bytewise counts", name, detail);
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
		detail[0] = '\0';
		report(check_code_quantize(k, AnnCodeKernelsForLevel(ANN_SIMD_SCALAR), detail),
			   "query levels kernel equals scalar", name, detail);
		detail[0] = '\0';
		report(check_code_hadamard(k, AnnCodeKernelsForLevel(ANN_SIMD_SCALAR), detail),
			   "rotation transform kernel equals scalar", name, detail);
		for (int d = 0; d < 3; d++)
			for (int bits = 1; bits <= ANN_CODE_MAX_BITS; bits *= 2)
			{
				detail[0] = '\0';
				report(check_estimates(k, (int[]) {128, 784, 1536}[d], bits, detail),
					   "code estimates within their error bounds", name, detail);
			}
	}
	printf("1..%d\n", tests_run);
	return tests_failed == 0 ? 0 : 1;
}
