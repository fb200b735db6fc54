/*
 * distance.h
 *		Distance kernels for float32 and float16 vectors, and for bit strings.
 *
 * Every piece of vector arithmetic in ann goes through the kernel table
 * declared here.  src/distance.c has a portable scalar version of each
 * kernel and SIMD versions for x86-64 (AVX2+FMA+F16C, AVX-512F); the best
 * set the CPU supports is chosen once, when the library loads, and
 * published in ann_kernels.  Callers fetch the function pointer they need
 * once (per scan, per build, per SQL call) and call it directly.
 *
 * This header and distance.c use no backend facilities beyond c.h, so the
 * kernels can also be linked into standalone test and benchmark programs.
 */
#ifndef ANN_DISTANCE_H
#define ANN_DISTANCE_H

#include <math.h>
#include <string.h>

/* IEEE 754 binary16, kept as its bit pattern */
typedef uint16 AnnHalf;

#define ANN_HALF_MAX 65504.0f

typedef enum AnnSimdLevel
{
	ANN_SIMD_SCALAR = 0,
	ANN_SIMD_AVX2,				/* AVX2 + FMA + F16C (+ POPCNT) */
	ANN_SIMD_AVX512,			/* AVX-512F */
	ANN_SIMD_NLEVELS
} AnnSimdLevel;

typedef float (*AnnFloatDistanceFn) (const float *a, const float *b, int n);
typedef double (*AnnFloatCosineFn) (const float *a, const float *b, int n);
typedef float (*AnnHalfDistanceFn) (const AnnHalf *a, const AnnHalf *b, int n);
typedef double (*AnnHalfCosineFn) (const AnnHalf *a, const AnnHalf *b, int n);
typedef uint64 (*AnnBitHammingFn) (const uint8 *a, const uint8 *b, int bytes);
typedef double (*AnnBitJaccardFn) (const uint8 *a, const uint8 *b, int bytes);

/*
 * A kernel for many operands: out[k] = kernel(a, key k, n) for count keys
 * of n elements that lie stride bytes apart from first, equal bit for bit
 * to the one-pair kernel's results
 */
typedef void (*AnnFloatDistancesFn) (const float *a, const char *first, size_t stride,
									 int count, int n, float *out);
typedef void (*AnnHalfDistancesFn) (const AnnHalf *a, const char *first, size_t stride,
									int count, int n, float *out);

/*
 * One complete set of kernels.  Float results are accumulated in float32,
 * as pgvector does, so a sum can overflow to an infinity (or NaN, from
 * infinities of both signs) on float32 data with huge elements; callers
 * that must refuse overflow test the result.  The cosine kernels return
 * 1 - cos(a, b) in double, clamped to [0, 2], NaN when either vector is
 * all zeros, and +Infinity when a sum overflowed.
 */
typedef struct AnnKernels
{
	AnnSimdLevel level;
	const char *name;

	AnnFloatDistanceFn l2_squared;	/* sum((a - b)^2) */
	AnnFloatDistanceFn inner_product;	/* sum(a * b) */
	AnnFloatDistanceFn l1;		/* sum(|a - b|) */
	AnnFloatCosineFn cosine;

	AnnHalfDistanceFn half_l2_squared;
	AnnHalfDistanceFn half_inner_product;
	AnnHalfDistanceFn half_l1;
	AnnHalfCosineFn half_cosine;

	/* widen n float16 values to float32 */
	void		(*half_to_float) (const AnnHalf *src, float *dst, int n);

	/* the L2 and inner product kernels for many operands */
	AnnFloatDistancesFn l2_squared_many;
	AnnFloatDistancesFn inner_product_many;
	AnnHalfDistancesFn half_l2_squared_many;
	AnnHalfDistancesFn half_inner_product_many;

	/*
	 * Bit strings of the same number of bytes, at any alignment: the bits
	 * set in a XOR b, and the Jaccard distance (AnnJaccardFromCounts).
	 * Both count whole bytes, so a caller's padding bits must be zero.
	 */
	const char *bit_name;		/* which popcount kernels these are */
	AnnBitHammingFn bit_hamming;
	AnnBitJaccardFn bit_jaccard;
} AnnKernels;

/* The set chosen at load time; never NULL after AnnDistanceInit(). */
extern const AnnKernels *ann_kernels;

extern void AnnDistanceInit(void);
extern AnnSimdLevel AnnBestSimdLevel(void);
extern const AnnKernels *AnnKernelsForLevel(AnnSimdLevel level);
extern const char *AnnSimdLevelName(AnnSimdLevel level);
extern bool AnnCpuHasVpopcntdq(void);

/*
 * Sparse kernels (sparsevec): each operand is nnz strictly increasing
 * indices and their values, and the kernel merges the two index lists in
 * one pass, in index order, accumulating in float32 like the dense ones.
 * A merge has data-dependent branches and gathers, so there is one
 * portable version and no entry in AnnKernels.
 */
typedef struct AnnSparse
{
	const int32 *index;			/* nnz strictly increasing indices */
	const float *x;				/* the value at each index, never 0 */
	int			nnz;
} AnnSparse;

extern float AnnSparseL2Squared(const AnnSparse *a, const AnnSparse *b);
extern float AnnSparseInnerProduct(const AnnSparse *a, const AnnSparse *b);
extern float AnnSparseL1(const AnnSparse *a, const AnnSparse *b);
extern double AnnSparseCosine(const AnnSparse *a, const AnnSparse *b);

/*
 * 1 - a.b / (|a| |b|), clamped so rounding cannot leave [0, 2].  Zero norms
 * give 0/0, hence NaN, which the clamp leaves alone.  When a float32 sum
 * overflowed (an infinite norm, or a dot product that is infinite or NaN
 * from infinities of both signs) the quotient means nothing: the result
 * is then +Infinity, outside [0, 2], for the caller to report.
 */
static inline double
AnnCosineFromParts(double dot, double norm_a, double norm_b)
{
	double		similarity;

	if (isinf(norm_a) || isinf(norm_b) || isinf(dot) || isnan(dot))
		return INFINITY;
	similarity = dot / sqrt(norm_a * norm_b);

	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	return 1.0 - similarity;
}

/*
 * 1 - |a AND b| / |a OR b| from the bits set in a AND b, in a and in b;
 * 1 when no bit is set in both, which covers two all-zero strings.
 */
static inline double
AnnJaccardFromCounts(uint64 both, uint64 ones_a, uint64 ones_b)
{
	if (both == 0)
		return 1.0;
	return 1.0 - (double) both / (double) (ones_a + ones_b - both);
}

/* Scalar float16 -> float32; exact for every input. */
static inline float
AnnHalfToFloat(AnnHalf h)
{
	uint32		sign = ((uint32) h & 0x8000) << 16;
	uint32		exponent = (h >> 10) & 0x1f;
	uint32		mantissa = h & 0x3ff;
	uint32		bits;
	float		result;

	if (exponent == 0x1f)
		bits = sign | 0x7f800000 | (mantissa << 13);
	else if (exponent != 0)
		bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
	else if (mantissa == 0)
		bits = sign;
	else
	{
		/* subnormal half: normalise it, every one is a normal float */
		exponent = 113;
		while ((mantissa & 0x400) == 0)
		{
			mantissa <<= 1;
			exponent--;
		}
		bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
	}
	memcpy(&result, &bits, sizeof(result));
	return result;
}

/*
 * Scalar float32 -> float16, rounding to nearest even.  Values past the
 * half range become infinity: callers that must refuse overflow test the
 * result with AnnHalfIsInf().
 */
static inline AnnHalf
AnnFloatToHalf(float f)
{
	uint32		bits;
	uint32		sign;
	uint32		magnitude;
	uint32		result;
	uint32		dropped;
	uint32		halfway;
	int			shift;

	memcpy(&bits, &f, sizeof(bits));
	sign = (bits >> 16) & 0x8000;
	magnitude = bits & 0x7fffffff;

	if (magnitude > 0x7f800000)
		return (AnnHalf) (sign | 0x7e00);	/* NaN */
	if (magnitude >= 0x477ff000)	/* >= 65520 rounds to infinity */
		return (AnnHalf) (sign | 0x7c00);
	if (magnitude >= 0x38800000)
	{
		/* normal half: rebias the exponent, round off 13 mantissa bits */
		result = (magnitude - 0x38000000) >> 13;
		dropped = magnitude & 0x1fff;
		halfway = 0x1000;
	}
	else if (magnitude < 0x33000000)
		return (AnnHalf) sign;	/* below half the smallest subnormal */
	else
	{
		/* subnormal half: shift the full significand into place */
		uint32		significand = (magnitude & 0x7fffff) | 0x800000;

		shift = 126 - (int) (magnitude >> 23);
		result = significand >> shift;
		dropped = significand & ((1u << shift) - 1);
		halfway = 1u << (shift - 1);
	}
	if (dropped > halfway || (dropped == halfway && (result & 1)))
		result++;
	return (AnnHalf) (sign | result);
}

static inline bool
AnnHalfIsInf(AnnHalf h)
{
	return (h & 0x7fff) == 0x7c00;
}

#endif							/* ANN_DISTANCE_H */
