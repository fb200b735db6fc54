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

/* The Walsh-Hadamard transform of v[0..n), n a power of two, normalised */
static void
walsh_hadamard(float *v, int n)
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
		walsh_hadamard(round % 2 == 0 ? out : out + padded - block, block);
	}
}

/* ---------------------------------------------------------------------
 * Codes and queries
 * ---------------------------------------------------------------------
 */

/*
 * The code of x relative to centre, both rotated (padded coordinates):
 * bit i is set when coordinate i of x - centre is positive.  A vector at
 * the centre has no bits set and norm 0, which makes every estimate for
 * it exact (its distance is the query's to the centre).
 */
void
AnnEncode(const float *x, const float *centre, int padded, uint64 *code,
		  AnnCodeFactors *factors)
{
	double		norm2 = 0;
	double		abs_sum = 0;

	memset(code, 0, sizeof(uint64) * (padded / 64));
	factors->ones = 0;
	for (int i = 0; i < padded; i++)
	{
		float		r = x[i] - centre[i];

		norm2 += (double) r * r;
		abs_sum += fabs(r);
		if (r > 0)
		{
			code[i / 64] |= UINT64CONST(1) << (i % 64);
			factors->ones++;
		}
	}
	factors->norm = (float) sqrt(norm2);
	factors->alignment = norm2 > 0 ? (float) (abs_sum / (sqrt(norm2) * sqrt((double) padded))) : 1.0f;
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
	int			words = padded / 64;
	double		norm2 = 0;
	float		rmin = 0,
				rmax = 0;
	float		inverse;
	float		to_level;
	uint32		levels = 0;

	/* min and max of the residual: scaled by 1 / |r| > 0, they bound q_n */
	for (int i = 0; i < padded; i++)
	{
		float		r = q[i] - centre[i];

		norm2 += (double) r * r;
		rmin = i == 0 ? r : Min(rmin, r);
		rmax = i == 0 ? r : Max(rmax, r);
	}
	query->padded = padded;
	query->words = words;
	query->norm = (float) sqrt(norm2);
	inverse = query->norm > 0 ? 1.0f / query->norm : 0.0f;
	query->lo = rmin * inverse;
	query->delta = (rmax - rmin) * inverse / 15.0f;
	to_level = query->delta > 0 ? 1.0f / query->delta : 0.0f;

	/* u = round((q_n - lo) / delta), 64 coordinates to a word of each plane */
	for (int w = 0; w < words; w++)
	{
		uint64		plane[4] = {0, 0, 0, 0};

		for (int b = 0; b < 64; b++)
		{
			int			i = w * 64 + b;
			float		v = (q[i] - centre[i]) * inverse;
			int			u = (int) ((v - query->lo) * to_level + 0.5f);

			u = Max(0, Min(15, u));
			levels += u;
			for (int j = 0; j < 4; j++)
				plane[j] |= (uint64) ((u >> j) & 1) << b;
		}
		for (int j = 0; j < 4; j++)
			query->planes[j * words + w] = plane[j];
	}
	query->sum = query->lo * padded + query->delta * levels;
}

/* ---------------------------------------------------------------------
 * Kernels
 * ---------------------------------------------------------------------
 */

static uint32
scalar_dot(const uint64 *code, const uint64 *planes, int words)
{
	uint32		total = 0;

	for (int j = 0; j < 4; j++)
	{
		uint32		count = 0;

		for (int w = 0; w < words; w++)
			count += __builtin_popcountll(code[w] & planes[j * words + w]);
		total += count << j;
	}
	return total;
}

static const AnnCodeKernels scalar_code_kernels = {ANN_SIMD_SCALAR, "scalar", scalar_dot};

#ifdef ANN_X86_SIMD

#define AVX2_CODE_TARGET __attribute__((target("avx2,popcnt")))

AVX2_CODE_TARGET static uint32
avx2_dot(const uint64 *code, const uint64 *planes, int words)
{
	__m256i		sums[4];
	uint32		tail[4] = {0, 0, 0, 0};
	uint32		total = 0;
	int			w = 0;

	for (int j = 0; j < 4; j++)
		sums[j] = _mm256_setzero_si256();
	for (; w + 4 <= words; w += 4)
	{
		__m256i		c = _mm256_loadu_si256((const __m256i *) (code + w));

		for (int j = 0; j < 4; j++)
		{
			__m256i		p = _mm256_loadu_si256((const __m256i *) (planes + j * words + w));

			sums[j] = _mm256_add_epi64(sums[j], AnnAvx2Popcount64(_mm256_and_si256(c, p)));
		}
	}
	for (; w < words; w++)
		for (int j = 0; j < 4; j++)
			tail[j] += __builtin_popcountll(code[w] & planes[j * words + w]);
	for (int j = 0; j < 4; j++)
		total += (uint32) (AnnAvx2Sum64(sums[j]) + tail[j]) << j;
	return total;
}

static const AnnCodeKernels avx2_code_kernels = {ANN_SIMD_AVX2, "avx2", avx2_dot};

#define AVX512_CODE_TARGET __attribute__((target("avx512f,avx512vpopcntdq")))

AVX512_CODE_TARGET static uint32
avx512_dot(const uint64 *code, const uint64 *planes, int words)
{
	__m512i		sums[4];
	uint32		total = 0;

	for (int j = 0; j < 4; j++)
		sums[j] = _mm512_setzero_si512();
	for (int w = 0; w < words; w += 8)
	{
		__mmask8	mask = words - w >= 8 ? 0xff : (__mmask8) ((1u << (words - w)) - 1);
		__m512i		c = _mm512_maskz_loadu_epi64(mask, code + w);

		for (int j = 0; j < 4; j++)
		{
			__m512i		p = _mm512_maskz_loadu_epi64(mask, planes + j * words + w);

			sums[j] = _mm512_add_epi64(sums[j], _mm512_popcnt_epi64(_mm512_and_si512(c, p)));
		}
	}
	for (int j = 0; j < 4; j++)
		total += (uint32) _mm512_reduce_add_epi64(sums[j]) << j;
	return total;
}

static const AnnCodeKernels avx512_code_kernels = {ANN_SIMD_AVX512, "avx512", avx512_dot};

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
