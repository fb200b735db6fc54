/*
 * codes.h
 *		Compact codes of vectors, with distance estimates and error bounds:
 *		RaBitQ (Gao and Long, SIGMOD 2024), one bit per rotated dimension,
 *		and its extension to more bits (Gao et al., SIGMOD 2025).
 *
 * A vector x is coded relative to a centre c.  Both are first rotated by
 * the same random orthogonal transform P (AnnRotate), which keeps
 * distances and inner products; the code keeps the signs of the rotated
 * residual P(x - c) and two factors: |x - c| and the alignment of the
 * unit residual o with its sign vector.  For a query q, also rotated,
 * the inner product <o, (q - c) / |q - c|> is estimated from the code
 * with a bound on its error that holds with high probability, and from
 * it any of the distances: |x - q|^2 = |x - c|^2 + |q - c|^2
 * - 2 |x - c| |q - c| <o, q_n>, and inner products through <x, c>.
 *
 * With B bits per dimension the code is a point y of the grid whose
 * coordinates are -m, -m + 1, ..., m (m = (2^B - 1) / 2, so one bit gives
 * the signs, +-1/2), chosen for the best alignment <y / |y|, o>; each
 * coordinate is stored as its level u = y + m in 0..2^B - 1, as B bit
 * planes.  The estimate and its error bound keep their form, with the
 * alignment of y in place of the sign vector's: about 0.8 for one bit,
 * 0.94, 0.98 and 0.995 for two, three and four, so that four bits make
 * the bound about five times tighter (the query's own quantization, four
 * bits, then weighs as much as the code's).
 *
 * The query side is quantized to 4 bits per dimension, held as four bit
 * planes, so that an estimate is four AND + popcount passes over the
 * code (AnnCodeKernels; SIMD variants chosen at load time like the
 * distance kernels).
 *
 * Like distance.c this uses nothing of the backend beyond c.h, so
 * standalone test and benchmark programs can link it.
 */
#ifndef ANN_CODES_H
#define ANN_CODES_H

#include "distance.h"

/* Rounds of random signs and a Walsh-Hadamard transform in a rotation */
#define ANN_ROTATION_ROUNDS 4

/*
 * How many standard errors an estimate's bound allows.  The code's error
 * is close to normal; 1.9 (the paper's epsilon_0) leaves about one true
 * value in 17 outside, 3.0 about one in 370.
 */
#define ANN_CODE_EPSILON	3.0f

/*
 * A rotation of vectors of dims dimensions into padded ones (dims rounded
 * up to a multiple of 64, the code's bits).  Each round flips the signs
 * of a fixed random set of coordinates, then applies a normalised
 * Walsh-Hadamard transform to the first block coordinates (even rounds)
 * or the last ones (odd rounds), block being the largest power of two
 * within padded; every step is orthogonal, so the whole is.
 */
typedef struct AnnRotation
{
	int			dims;
	int			padded;
	int			block;
	float		signs[FLEXIBLE_ARRAY_MEMBER];	/* ROUNDS * padded, each +-1 */
} AnnRotation;

/* Most bits per dimension a code may have */
#define ANN_CODE_MAX_BITS	8

/*
 * The factors stored beside a code.  A code of more than one bit also
 * needs |y|, which its owner stores apart (a one-bit code's is
 * sqrt(padded) / 2: AnnCodeSignLength).
 */
typedef struct AnnCodeFactors
{
	float		norm;			/* |x - c| */
	float		alignment;		/* <y / |y|, o>, in (0, 1] */
	uint32		level_sum;		/* sum of the code's levels (one bit: bits set) */
} AnnCodeFactors;

/*
 * A query prepared against one centre: its unit residual q_n, quantized
 * as lo + delta * u with u in 0..15, held as four bit planes (bit j of
 * every u, planes[j * words ...]).
 */
typedef struct AnnCodeQuery
{
	int			padded;
	int			words;			/* padded / 64 */
	float		norm;			/* |q - c| */
	float		lo;
	float		delta;
	float		sum;			/* sum of q_n's quantized coordinates */
	uint64		planes[FLEXIBLE_ARRAY_MEMBER];
} AnnCodeQuery;

/*
 * sum over i of level_i * u_i, for a code of bits planes of words words
 * each (plane b: bit b of every level) and the four planes of u
 */
typedef uint32 (*AnnCodeDotFn) (const uint64 *code, int bits, const uint64 *planes, int words);

/*
 * The levels u_i = round(((q_i - c_i) * inverse - lo) * to_level),
 * clamped to 0..15, of padded coordinates as four bit planes (plane j
 * holds bit j of every level); returns the sum of the levels.  Every
 * level computes each u_i with the same float operations in the same
 * order, so all give the same planes.
 */
typedef uint32 (*AnnCodeQuantizeFn) (const float *q, const float *centre, int padded,
									 float inverse, float lo, float to_level, uint64 *planes);

/*
 * The normalised Walsh-Hadamard transform of v[0..n) in place, n a power
 * of two and at least 64.  Every level does the same butterflies and the
 * same final scaling, so all give the same floats.
 */
typedef void (*AnnCodeHadamardFn) (float *v, int n);

typedef struct AnnCodeKernels
{
	AnnSimdLevel level;
	const char *name;
	AnnCodeDotFn dot;
	AnnCodeQuantizeFn quantize;
	AnnCodeHadamardFn hadamard;
} AnnCodeKernels;

extern const AnnCodeKernels *AnnCodeKernelsForLevel(AnnSimdLevel level);
extern const AnnCodeKernels *AnnBestCodeKernels(void);

extern int	AnnCodePadded(int dims);
extern Size AnnRotationSize(int dims);
extern void AnnRotationInit(AnnRotation *rotation, int dims, uint64 seed);
extern void AnnRotate(const AnnRotation *rotation, const float *in, float *out);

extern Size AnnCodeQuerySize(int padded);
extern float AnnEncode(const float *x, const float *centre, int padded, int bits,
					   uint64 *code, AnnCodeFactors *factors);
extern float AnnCodeSignLength(int padded);
extern void AnnCodeQueryPrepare(AnnCodeQuery *query, const float *q, const float *centre,
								int padded);

/*
 * The estimate of <o, q_n> for a code of bits bits per dimension, whose
 * |y| is length and whose kernel result is dot, and in *error the bound
 * on its error.  With the query's quantized coordinates lo + delta u_i,
 * s = sum of level_i (lo + delta u_i) = lo level_sum + delta dot, and
 * <y, q_n> = s - m sum q_n; divided by |y| and the alignment it
 * estimates <o, q_n> without bias.  The error has the code's variance,
 * (1 - a^2) / (a^2 (padded - 1)), and the query quantization's: rounding
 * errors of variance delta^2 / 12 each, summed with weights y_i / |y|,
 * then divided by a.
 */
static inline float
AnnCodeEstimate(const AnnCodeQuery *query, const AnnCodeFactors *factors, float length,
				int bits, uint32 dot, float *error)
{
	float		a = factors->alignment;
	float		a2 = a * a;
	float		m = (float) ((1 << bits) - 1) * 0.5f;
	float		s = query->lo * factors->level_sum + query->delta * dot;
	float		estimate = (s - m * query->sum) / (length * a);
	float		variance = (1.0f - a2) / (a2 * (query->padded - 1)) +
		query->delta * query->delta / (12.0f * a2);

	*error = ANN_CODE_EPSILON * sqrtf(variance);
	return estimate;
}

/*
 * Squared L2 distance from an estimate of <o, q_n>: its value, and in
 * *lower a bound below which the true distance lies only with the small
 * probability the bound allows.
 */
static inline float
AnnCodeL2Squared(const AnnCodeQuery *query, const AnnCodeFactors *factors, float estimate,
				 float error, float *lower)
{
	float		base = factors->norm * factors->norm + query->norm * query->norm;
	float		cross = 2.0f * factors->norm * query->norm;

	*lower = Max(base - cross * Min(estimate + error, 1.0f), 0.0f);
	return Max(base - cross * estimate, 0.0f);
}

#endif							/* ANN_CODES_H */
