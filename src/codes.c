/*
 * codes.c
 *		RaBitQ codes: the rotation, encoding, query preparation, and the
 *		popcount kernels that estimate from codes (codes.h).
 *
 * The kernels follow distance.c: a scalar reference, and x86-64
 * variants compiled with function-level target attributes, chosen once
 * by CPUID.  AVX2 counts bits with a nibble lookup table (VPSHUFB) and
 * sums the bytes with VPSADBW; AVX-512 uses VPOPCNTQ, and on a CPU with
 * AVX-512F but not VPOPCNTDQ the AVX-512 level runs the AVX2 kernels.
 */
#include "postgres.h"

#include <math.h>

#include "codes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ANN_X86_SIMD 1
#include <immintrin.h>

#include "popcount.h"
#endif

/* ---------------------------------------------------------------------
 * The rotation
 * ---------------------------------------------------------------------
 */

int
AnnCodePadded(int dims)
{
	return (dims + 63) / 64 * 64;
}

Size
AnnRotationSize(int dims)
{
	return offsetof(AnnRotation, signs) +
		sizeof(float) * ANN_ROTATION_ROUNDS * AnnCodePadded(dims);
}

/* splitmix64: a fixed, portable sequence from the seed */
static uint64
next_random(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void
AnnRotationInit(AnnRotation *rotation, int dims, uint64 seed)
{
	int			nsigns = ANN_ROTATION_ROUNDS * AnnCodePadded(dims);
	uint64		state = seed;
	uint64		bits = 0;

	rotation->dims = dims;
	rotation->padded = AnnCodePadded(dims);
	rotation->block = 1;
	while (rotation->block * 2 <= rotation->padded)
		rotation->block *= 2;
	for (int i = 0; i < nsigns; i++)
	{
		if (i % 64 == 0)
			bits = next_random(&state);
		rotation->signs[i] = ((bits >> (i % 64)) & 1) ? -1.0f : 1.0f;
	}
}

/* AnnCodeHadamardFn */
static void
scalar_hadamard(float *v, int n)
{
	float		scale = 1.0f / sqrtf((float) n);

	for (int half = 1; half < n; half *= 2)
		for (int i = 0; i < n; i += 2 * half)
			for (int j = i; j < i + half; j++)
			{
				float		a = v[j];
				float		b = v[j + half];

				v[j] = a + b;
				v[j + half] = a - b;
			}
	for (int i = 0; i < n; i++)
		v[i] *= scale;
}

/* out[0..padded) = P in[0..dims) */
void
AnnRotate(const AnnRotation *rotation, const float *in, float *out)
{
	int			padded = rotation->padded;
	int			block = rotation->block;

	memcpy(out, in, sizeof(float) * rotation->dims);
	memset(out + rotation->dims, 0, sizeof(float) * (padded - rotation->dims));
	for (int round = 0; round < ANN_ROTATION_ROUNDS; round++)
	{
		const float *signs = rotation->signs + (Size) round * padded;

		for (int i = 0; i < padded; i++)
			out[i] *= signs[i];
		AnnBestCodeKernels()->hadamard(round % 2 == 0 ? out : out + padded - block, block);
	}
}

/* ---------------------------------------------------------------------
 * Codes and queries
 * ---------------------------------------------------------------------
 */

/* Scales tried on a grid, then again between the best's neighbours */
#define SCALE_STEPS 16
#define SCALE_REFINE_STEPS 8

/*
 * The best aligned of steps (at most SCALE_STEPS) scales from lo by step.
 * At scale t the grid point for the residual r = x - centre has level
 * k_i = min(floor(t |r_i|), top) on the side of r_i's sign, that is
 * y_i = +-(k_i + 1/2); its alignment is <y, |r|> / |y|.  One pass over
 * the coordinates sums for every scale at once (steps independent sums,
 * which the compiler vectorizes), each in coordinate order.  (Only
 * correctly rounded operations, in a fixed order: every machine picks
 * the same, as ann_check_index, which codes vectors again, needs.)
 */
static double
best_scale_between(const float *x, const float *centre, int padded, int top, double lo,
				   double step, int steps)
{
	float		scale[SCALE_STEPS];
	float		dot[SCALE_STEPS] = {0};
	int32		levels[SCALE_STEPS] = {0};
	int32		squares[SCALE_STEPS] = {0};
	float		ceiling = (float) top;
	double		best = lo;
	double		best_alignment = -1;

	Assert(steps <= SCALE_STEPS);
	for (int s = 0; s < steps; s++)
		scale[s] = (float) (lo + s * step);
	for (int i = 0; i < padded; i++)
	{
		float		r = fabsf(x[i] - centre[i]);

		for (int s = 0; s < steps; s++)
		{
			int32		k = (int32) Min(scale[s] * r, ceiling);

			dot[s] += ((float) k + 0.5f) * r;
			levels[s] += k;
			squares[s] += k * k;
		}
	}
	for (int s = 0; s < steps; s++)
	{
		/* |y|^2: the sum of (k + 1/2)^2 */
		double		sq = (double) squares[s] + (double) levels[s] + padded * 0.25;
		double		alignment = dot[s] / sqrt(sq);

		if (alignment > best_alignment)
		{
			best_alignment = alignment;
			best = lo + s * step;
		}
	}
	return best;
}

/*
 * The scale whose grid point is best aligned with r.  Below 1 / max |r_i|
 * every level is 0; at 2 (top + 1) / max |r_i| every coordinate above half
 * the largest is at the top level, past any useful clipping.  (Extended
 * RaBitQ finds the exact best by sweeping the scales where levels change;
 * a grid comes within a small fraction of it for a fraction of the work.)
 */
static double
best_scale(const float *x, const float *centre, int padded, int top, double rmax)
{
	double		lo = 1.0 / rmax;
	double		step = (2.0 * (top + 1) - 1.0) / rmax / (SCALE_STEPS - 1);
	double		coarse = best_scale_between(x, centre, padded, top, lo, step, SCALE_STEPS);

	return best_scale_between(x, centre, padded, top, Max(coarse - step, lo),
							  2.0 * step / (SCALE_REFINE_STEPS - 1), SCALE_REFINE_STEPS);
}

/* |y| of every one-bit code: its coordinates are +-1/2 */
float
AnnCodeSignLength(int padded)
{
	return sqrtf((float) padded) * 0.5f;
}

/*
 * The code of x relative to centre, both rotated (padded coordinates),
 * with bits bits per dimension (1 to ANN_CODE_MAX_BITS): the levels of
 * the grid point best aligned with the residual, as bits planes of
 * padded / 64 words.  With one bit, bit i is set when coordinate i of
 * x - centre is positive.  A vector at the centre has levels just below
 * the middle, norm 0 and alignment 1, which makes every estimate for it
 * exact (its distance is the query's to the centre).  Returns |y|.
 */
float
AnnEncode(const float *x, const float *centre, int padded, int bits, uint64 *code,
		  AnnCodeFactors *factors)
{
	int			words = padded / 64;
	int			top = (1 << (bits - 1)) - 1;	/* highest level on each side */
	double		norm2 = 0;
	double		rmax = 0;
	double		t = 0;
	double		dot = 0;
	uint64		squares = 0;	/* sum of k^2 + k */
	double		sq;

	for (int i = 0; i < padded; i++)
	{
		double		r = (double) x[i] - centre[i];

		norm2 += r * r;
		rmax = Max(rmax, fabs(r));
	}
	if (top > 0 && rmax > 0)
		t = best_scale(x, centre, padded, top, rmax);
	factors->level_sum = 0;
	for (int w = 0; w < words; w++)
	{
		uint64		planes[ANN_CODE_MAX_BITS] = {0};	/* word w of each plane */

		for (int j = 0; j < 64; j++)
		{
			float		r = x[w * 64 + j] - centre[w * 64 + j];
			int			k = Min((int) ((float) t * fabsf(r)), top);
			uint32		level = r > 0 ? top + 1 + k : top - k;

			for (int b = 0; b < bits; b++)
				planes[b] |= (uint64) ((level >> b) & 1) << j;
			factors->level_sum += level;
			dot += (k + 0.5) * fabsf(r);
			squares += (uint64) k * k + k;
		}
		for (int b = 0; b < bits; b++)
			code[b * words + w] = planes[b];
	}
	/* |y|^2: the sum of (k + 1/2)^2 */
	sq = (double) squares + padded * 0.25;
	factors->norm = (float) sqrt(norm2);
	factors->alignment = norm2 > 0 ? (float) (dot / (sqrt(norm2) * sqrt(sq))) : 1.0f;
	return (float) sqrt(sq);
}

Size
AnnCodeQuerySize(int padded)
{
	return offsetof(AnnCodeQuery, planes) + sizeof(uint64) * 4 * (padded / 64);
}

/*
 * Prepare q (rotated) against centre (rotated): the unit residual,
 * quantized to 16 levels between its smallest and largest coordinate.
 */
void
AnnCodeQueryPrepare(AnnCodeQuery *query, const float *q, const float *centre, int padded)
{
	double		norm2 = 0;
	float		rmin = q[0] - centre[0];
	float		rmax = rmin;
	float		inverse;
	float		to_level;
	uint32		levels;

	/* min and max of the residual: scaled by 1 / |r| > 0, they bound q_n */
	for (int i = 0; i < padded; i++)
	{
		float		r = q[i] - centre[i];

		norm2 += (double) r * r;
		rmin = Min(rmin, r);
		rmax = Max(rmax, r);
	}
	query->padded = padded;
	query->words = padded / 64;
	query->norm = (float) sqrt(norm2);
	inverse = query->norm > 0 ? 1.0f / query->norm : 0.0f;
	query->lo = rmin * inverse;
	query->delta = (rmax - rmin) * inverse / 15.0f;
	to_level = query->delta > 0 ? 1.0f / query->delta : 0.0f;
	levels = AnnBestCodeKernels()->quantize(q, centre, padded, inverse, query->lo, to_level,
											query->planes);
	query->sum = query->lo * padded + query->delta * levels;
}

/* ---------------------------------------------------------------------
 * Kernels
 * ---------------------------------------------------------------------
 */

static uint32
scalar_dot(const uint64 *code, int bits, const uint64 *planes, int words)
{
	uint32		total = 0;

	for (int b = 0; b < bits; b++)
		for (int j = 0; j < 4; j++)
		{
			uint32		count = 0;

			for (int w = 0; w < words; w++)
				count += __builtin_popcountll(code[b * words + w] & planes[j * words + w]);
			total += count << (b + j);
		}
	return total;
}

/* One level (AnnCodeQuantizeFn): rounded by adding 1/2 and truncating */
static inline uint32
query_level(float q, float centre, float inverse, float lo, float to_level)
{
	float		level = ((q - centre) * inverse - lo) * to_level + 0.5f;

	return (uint32) Min(Max(level, 0.0f), 15.0f);
}

static uint32
scalar_quantize(const float *q, const float *centre, int padded, float inverse, float lo,
				float to_level, uint64 *planes)
{
	int			words = padded / 64;
	uint32		sum = 0;

	for (int w = 0; w < words; w++)
	{
		uint64		plane[4] = {0, 0, 0, 0};

		for (int b = 0; b < 64; b++)
		{
			int			i = w * 64 + b;
			uint32		u = query_level(q[i], centre[i], inverse, lo, to_level);

			sum += u;
			for (int j = 0; j < 4; j++)
				plane[j] |= (uint64) ((u >> j) & 1) << b;
		}
		for (int j = 0; j < 4; j++)
			planes[j * words + w] = plane[j];
	}
	return sum;
}

static const AnnCodeKernels scalar_code_kernels = {ANN_SIMD_SCALAR, "scalar", scalar_dot,
scalar_quantize, scalar_hadamard};

#ifdef ANN_X86_SIMD

#define AVX2_CODE_TARGET __attribute__((target("avx2,popcnt")))

/* Each count is shifted by its weight, b + j, and summed in one register. */
AVX2_CODE_TARGET static uint32
avx2_dot(const uint64 *code, int bits, const uint64 *planes, int words)
{
	__m256i		sums = _mm256_setzero_si256();
	uint32		total = 0;

	for (int b = 0; b < bits; b++)
	{
		const uint64 *plane = code + b * words;
		int			w = 0;

		for (; w + 4 <= words; w += 4)
		{
			__m256i		c = _mm256_loadu_si256((const __m256i *) (plane + w));

			for (int j = 0; j < 4; j++)
			{
				__m256i		p = _mm256_loadu_si256((const __m256i *) (planes + j * words + w));
				__m256i		counts = AnnAvx2Popcount64(_mm256_and_si256(c, p));

				sums = _mm256_add_epi64(sums, _mm256_sll_epi64(counts, _mm_cvtsi32_si128(b + j)));
			}
		}
		for (; w < words; w++)
			for (int j = 0; j < 4; j++)
				total += (uint32) __builtin_popcountll(plane[w] & planes[j * words + w]) << (b + j);
	}
	return total + (uint32) AnnAvx2Sum64(sums);
}

/*
 * 32 levels at a time: four vectors of eight, packed into 32 bytes (in
 * coordinate order after the lane fix-up); bit j of every byte is moved
 * to its top and gathered by VPMOVMSKB, and VPSADBW sums the bytes.
 */
AVX2_CODE_TARGET static uint32
avx2_quantize(const float *q, const float *centre, int padded, float inverse, float lo,
			  float to_level, uint64 *planes)
{
	int			words = padded / 64;
	__m256		v_inverse = _mm256_set1_ps(inverse);
	__m256		v_lo = _mm256_set1_ps(lo);
	__m256		v_to_level = _mm256_set1_ps(to_level);
	__m256		half = _mm256_set1_ps(0.5f);
	__m256		zero = _mm256_setzero_ps();
	__m256		top = _mm256_set1_ps(15.0f);
	__m256i		sums = _mm256_setzero_si256();

	for (int w = 0; w < words; w++)
	{
		uint32		bits[4][2];

		for (int h = 0; h < 2; h++)
		{
			__m256i		ints[4];
			__m256i		bytes;

			for (int k = 0; k < 4; k++)
			{
				int			i = w * 64 + h * 32 + k * 8;
				__m256		r = _mm256_sub_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(centre + i));
				__m256		level = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(r, v_inverse),
																		   v_lo),
															 v_to_level),
												  half);

				ints[k] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(level, zero), top));
			}
			/* packs work within 128-bit lanes; the permute restores the order */
			bytes = _mm256_packus_epi16(_mm256_packs_epi32(ints[0], ints[1]),
										_mm256_packs_epi32(ints[2], ints[3]));
			bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
			sums = _mm256_add_epi64(sums, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
			for (int j = 0; j < 4; j++)
				bits[j][h] = (uint32) _mm256_movemask_epi8(_mm256_slli_epi16(bytes, 7 - j));
		}
		for (int j = 0; j < 4; j++)
			planes[j * words + w] = (uint64) bits[j][0] | (uint64) bits[j][1] << 32;
	}
	return (uint32) AnnAvx2Sum64(sums);
}

/*
 * Eight floats a register: the butterflies of spans 1, 2 and 4 within
 * each register (the partner's lanes brought by a permute; a + b and
 * b + a are the same float), then spans of 8 and up between registers.
 */
AVX2_CODE_TARGET static void
avx2_hadamard(float *v, int n)
{
	__m256		scale = _mm256_set1_ps(1.0f / sqrtf((float) n));

	for (int i = 0; i < n; i += 8)
	{
		__m256		x = _mm256_loadu_ps(v + i);
		__m256		s;

		s = _mm256_permute_ps(x, 0xB1);
		x = _mm256_blend_ps(_mm256_add_ps(x, s), _mm256_sub_ps(s, x), 0xAA);
		s = _mm256_permute_ps(x, 0x4E);
		x = _mm256_blend_ps(_mm256_add_ps(x, s), _mm256_sub_ps(s, x), 0xCC);
		s = _mm256_permute2f128_ps(x, x, 0x01);
		x = _mm256_blend_ps(_mm256_add_ps(x, s), _mm256_sub_ps(s, x), 0xF0);
		_mm256_storeu_ps(v + i, x);
	}
	for (int half = 8; half < n; half *= 2)
		for (int i = 0; i < n; i += 2 * half)
			for (int j = i; j < i + half; j += 8)
			{
				__m256		a = _mm256_loadu_ps(v + j);
				__m256		b = _mm256_loadu_ps(v + j + half);

				_mm256_storeu_ps(v + j, _mm256_add_ps(a, b));
				_mm256_storeu_ps(v + j + half, _mm256_sub_ps(a, b));
			}
	for (int i = 0; i < n; i += 8)
		_mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_loadu_ps(v + i), scale));
}

static const AnnCodeKernels avx2_code_kernels = {ANN_SIMD_AVX2, "avx2", avx2_dot, avx2_quantize,
avx2_hadamard};

#define AVX512_CODE_TARGET __attribute__((target("avx512f,avx512vpopcntdq")))

AVX512_CODE_TARGET static uint32
avx512_dot(const uint64 *code, int bits, const uint64 *planes, int words)
{
	__m512i		sums = _mm512_setzero_si512();

	for (int b = 0; b < bits; b++)
		for (int w = 0; w < words; w += 8)
		{
			__mmask8	mask = words - w >= 8 ? 0xff : (__mmask8) ((1u << (words - w)) - 1);
			__m512i		c = _mm512_maskz_loadu_epi64(mask, code + b * words + w);

			for (int j = 0; j < 4; j++)
			{
				__m512i		p = _mm512_maskz_loadu_epi64(mask, planes + j * words + w);
				__m512i		counts = _mm512_popcnt_epi64(_mm512_and_si512(c, p));

				sums = _mm512_add_epi64(sums, _mm512_sll_epi64(counts, _mm_cvtsi32_si128(b + j)));
			}
		}
	return (uint32) _mm512_reduce_add_epi64(sums);
}

/* VPOPCNTQ for the estimates; the query's levels and the transform are AVX2's */
static const AnnCodeKernels avx512_code_kernels = {ANN_SIMD_AVX512, "avx512", avx512_dot,
avx2_quantize, avx2_hadamard};

#endif							/* ANN_X86_SIMD */

/*
 * The code kernels of a level, or NULL if this CPU cannot run it.  The
 * AVX-512 level needs VPOPCNTDQ for its own; without it, it has AVX2's.
 */
const AnnCodeKernels *
AnnCodeKernelsForLevel(AnnSimdLevel level)
{
	if (level > AnnBestSimdLevel())
		return NULL;
	switch (level)
	{
		case ANN_SIMD_SCALAR:
			return &scalar_code_kernels;
#ifdef ANN_X86_SIMD
		case ANN_SIMD_AVX2:
			return &avx2_code_kernels;
		case ANN_SIMD_AVX512:
			return AnnCpuHasVpopcntdq() ? &avx512_code_kernels : &avx2_code_kernels;
#endif
		default:
			return NULL;
	}
}

const AnnCodeKernels *
AnnBestCodeKernels(void)
{
	static const AnnCodeKernels *best = NULL;

	if (best == NULL)
		best = AnnCodeKernelsForLevel(AnnBestSimdLevel());
	return best;
}
