/*
 * distance.c
 *		Scalar and SIMD distance kernels, and the choice between them.
 *
 * The scalar kernels are the reference: plain loops that any compiler
 * and architecture handle.  The x86-64 variants are compiled with
 * function-level target attributes, so the library itself is built for
 * baseline x86-64 and still runs anywhere; AnnDistanceInit() asks CPUID
 * (and XGETBV, for the OS's consent to the wide registers) which variants
 * may run and publishes the best set in ann_kernels.
 *
 * The SIMD levels share one set of kernel templates (SIMD_KERNELS) and
 * differ only in the intrinsics they plug in.  Each kernel keeps four
 * independent accumulators per sum so the FMA latency is hidden, runs its
 * main loop on whole vectors, and finishes a short tail once, with a
 * masked load (float32) or a zero-padded copy (float16), which adds
 * nothing to any of the sums computed here.
 *
 * The bit-string kernels count set bits the same way at every level: the
 * main loop over whole registers, then the tail a 64-bit word at a time
 * with POPCNT, which every CPU with AVX2 has.  AVX2 counts with a nibble lookup table (VPSHUFB) and sums the bytes
 * with VPSADBW; AVX-512 uses VPOPCNTQ, and on a CPU with AVX-512F but not
 * VPOPCNTDQ the AVX-512 set carries the AVX2 bit kernels.
 */
#include "postgres.h"

#include "distance.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ANN_X86_SIMD 1
#include <cpuid.h>
#include <immintrin.h>

#include "popcount.h"
#endif

const AnnKernels *ann_kernels = NULL;

/* ---------------------------------------------------------------------
 * Scalar reference kernels
 * ---------------------------------------------------------------------
 */

static float
scalar_l2_squared(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		diff = a[i] - b[i];

		sum += diff * diff;
	}
	return sum;
}

static float
scalar_inner_product(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

static float
scalar_l1(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

static double
scalar_cosine(const float *a, const float *b, int n)
{
	float		dot = 0.0f;
	float		norm_a = 0.0f;
	float		norm_b = 0.0f;

	for (int i = 0; i < n; i++)
	{
		dot += a[i] * b[i];
		norm_a += a[i] * a[i];
		norm_b += b[i] * b[i];
	}
	return AnnCosineFromParts(dot, norm_a, norm_b);
}

static float
scalar_half_l2_squared(const AnnHalf *a, const AnnHalf *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		diff = AnnHalfToFloat(a[i]) - AnnHalfToFloat(b[i]);

		sum += diff * diff;
	}
	return sum;
}

static float
scalar_half_inner_product(const AnnHalf *a, const AnnHalf *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += AnnHalfToFloat(a[i]) * AnnHalfToFloat(b[i]);
	return sum;
}

static float
scalar_half_l1(const AnnHalf *a, const AnnHalf *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += fabsf(AnnHalfToFloat(a[i]) - AnnHalfToFloat(b[i]));
	return sum;
}

static double
scalar_half_cosine(const AnnHalf *a, const AnnHalf *b, int n)
{
	float		dot = 0.0f;
	float		norm_a = 0.0f;
	float		norm_b = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		x = AnnHalfToFloat(a[i]);
		float		y = AnnHalfToFloat(b[i]);

		dot += x * y;
		norm_a += x * x;
		norm_b += y * y;
	}
	return AnnCosineFromParts(dot, norm_a, norm_b);
}

static void
scalar_half_to_float(const AnnHalf *src, float *dst, int n)
{
	for (int i = 0; i < n; i++)
		dst[i] = AnnHalfToFloat(src[i]);
}

/* 8 bytes at any alignment, as one word */
static inline uint64
load_word(const uint8 *p)
{
	uint64		word;

	memcpy(&word, p, sizeof(word));
	return word;
}

/*
 * Bits set in a XOR b, a word at a time.  Always inlined, so that each
 * SIMD level's kernels, which finish their tails with it, count with the
 * POPCNT instruction their target enables.
 */
static pg_attribute_always_inline uint64
count_differing(const uint8 *a, const uint8 *b, int bytes)
{
	uint64		count = 0;
	int			i = 0;

	for (; i + 8 <= bytes; i += 8)
		count += __builtin_popcountll(load_word(a + i) ^ load_word(b + i));
	for (; i < bytes; i++)
		count += __builtin_popcount(a[i] ^ b[i]);
	return count;
}

/* Adds the bits set in a AND b, in a and in b to counts[0..2]; as above */
static pg_attribute_always_inline void
count_jaccard(const uint8 *a, const uint8 *b, int bytes, uint64 *counts)
{
	int			i = 0;

	for (; i + 8 <= bytes; i += 8)
	{
		uint64		x = load_word(a + i);
		uint64		y = load_word(b + i);

		counts[0] += __builtin_popcountll(x & y);
		counts[1] += __builtin_popcountll(x);
		counts[2] += __builtin_popcountll(y);
	}
	for (; i < bytes; i++)
	{
		counts[0] += __builtin_popcount(a[i] & b[i]);
		counts[1] += __builtin_popcount(a[i]);
		counts[2] += __builtin_popcount(b[i]);
	}
}

static uint64
scalar_bit_hamming(const uint8 *a, const uint8 *b, int bytes)
{
	return count_differing(a, b, bytes);
}

static double
scalar_bit_jaccard(const uint8 *a, const uint8 *b, int bytes)
{
	uint64		counts[3] = {0, 0, 0};

	count_jaccard(a, b, bytes, counts);
	return AnnJaccardFromCounts(counts[0], counts[1], counts[2]);
}

/*
 * The kernel NAME for many operands (AnnFloatDistancesFn), one call of
 * NAME per key
 */
#define MANY_BY_PAIRS(NAME, T) \
	static void \
	NAME##_many(const T *a, const char *first, size_t stride, int count, int n, float *out) \
	{ \
		for (int k = 0; k < count; k++) \
			out[k] = NAME(a, (const T *) (first + stride * k), n); \
	}

MANY_BY_PAIRS(scalar_l2_squared, float)
MANY_BY_PAIRS(scalar_inner_product, float)
MANY_BY_PAIRS(scalar_half_l2_squared, AnnHalf)
MANY_BY_PAIRS(scalar_half_inner_product, AnnHalf)

static const AnnKernels scalar_kernels = {
	ANN_SIMD_SCALAR, "scalar",
	scalar_l2_squared, scalar_inner_product, scalar_l1, scalar_cosine,
	scalar_half_l2_squared, scalar_half_inner_product, scalar_half_l1,
	scalar_half_cosine, scalar_half_to_float,
	scalar_l2_squared_many, scalar_inner_product_many,
	scalar_half_l2_squared_many, scalar_half_inner_product_many,
	"scalar", scalar_bit_hamming, scalar_bit_jaccard
};

/* ---------------------------------------------------------------------
 * Sparse kernels
 *
 * One merge of the two index lists serves every distance: an index in
 * both operands contributes f(a, b), an index in one of them f(a, 0) or
 * f(0, b), which is zero for the inner product, so that one skips the
 * unmatched indices and the tails.  The operation is a constant at each
 * call of the inline merge, so the compiler emits a loop per distance with
 * no test of it inside.  Terms are summed in increasing index order.
 * ---------------------------------------------------------------------
 */

typedef enum SparseMergeOp
{
	SPARSE_L2_SQUARED,
	SPARSE_L1,
	SPARSE_INNER_PRODUCT
} SparseMergeOp;

/* f(x, y); only called with a zero operand when op is not the product */
static inline float
sparse_term(float x, float y, SparseMergeOp op)
{
	float		diff = x - y;

	switch (op)
	{
		case SPARSE_L2_SQUARED:
			return diff * diff;
		case SPARSE_L1:
			return fabsf(diff);
		default:
			return x * y;
	}
}

static inline float
sparse_merge(const AnnSparse *a, const AnnSparse *b, SparseMergeOp op)
{
	bool		unmatched = op != SPARSE_INNER_PRODUCT; /* do one-sided terms count? */
	float		sum = 0.0f;
	int			i = 0;
	int			j = 0;

	while (i < a->nnz && j < b->nnz)
	{
		int32		ia = a->index[i];
		int32		ib = b->index[j];

		if (ia == ib)
			sum += sparse_term(a->x[i++], b->x[j++], op);
		else if (ia < ib)
		{
			if (unmatched)
				sum += sparse_term(a->x[i], 0.0f, op);
			i++;
		}
		else
		{
			if (unmatched)
				sum += sparse_term(0.0f, b->x[j], op);
			j++;
		}
	}
	for (; unmatched && i < a->nnz; i++)
		sum += sparse_term(a->x[i], 0.0f, op);
	for (; unmatched && j < b->nnz; j++)
		sum += sparse_term(0.0f, b->x[j], op);
	return sum;
}

float
AnnSparseL2Squared(const AnnSparse *a, const AnnSparse *b)
{
	return sparse_merge(a, b, SPARSE_L2_SQUARED);
}

float
AnnSparseL1(const AnnSparse *a, const AnnSparse *b)
{
	return sparse_merge(a, b, SPARSE_L1);
}

float
AnnSparseInnerProduct(const AnnSparse *a, const AnnSparse *b)
{
	return sparse_merge(a, b, SPARSE_INNER_PRODUCT);
}

static float
sparse_squared_norm(const AnnSparse *a)
{
	float		sum = 0.0f;

	for (int i = 0; i < a->nnz; i++)
		sum += a->x[i] * a->x[i];
	return sum;
}

double
AnnSparseCosine(const AnnSparse *a, const AnnSparse *b)
{
	return AnnCosineFromParts(AnnSparseInnerProduct(a, b), sparse_squared_norm(a),
							  sparse_squared_norm(b));
}

#ifdef ANN_X86_SIMD

/* ---------------------------------------------------------------------
 * SIMD kernel templates
 *
 * Every SIMD level computes the same kernels the same way; only the
 * vector width and the intrinsics differ.  A level L provides:
 *
 *	L_TARGET			function attribute enabling its instructions
 *	L_VEC, L_WIDTH		vector type and its number of float lanes
 *	L_ZERO, L_ADD, L_SUB, L_FMA, L_ABS, L_SUM (horizontal sum to float)
 *	L_LOAD(p)			L_WIDTH floats at p
 *	L_TAIL(p, len)		the len < L_WIDTH floats at p, zero-filled
 *	L_LOADH(p)			L_WIDTH halves at p, widened
 *	L_STORE(p, v)		store L_WIDTH floats at p
 *
 * and instantiates them with SIMD_KERNELS(L, l).
 * ---------------------------------------------------------------------
 */

/*
 * The loop shared by all kernels: blocks of four vectors into four
 * independent accumulator sets (so one FMA need not wait for the last),
 * then single vectors, then one zero-filled tail.  STEP(L, k, x, y) folds
 * the vectors x and y into accumulator set k.  Zero lanes add nothing to
 * any sum computed here.
 */
#define SIMD_LOOP(L, LOAD, TAIL, STEP) \
	do { \
		const int	w_ = L##_WIDTH; \
		int			i = 0; \
		\
		for (; i + 4 * w_ <= n; i += 4 * w_) \
		{ \
			STEP(L, 0, LOAD(a + i), LOAD(b + i)); \
			STEP(L, 1, LOAD(a + i + w_), LOAD(b + i + w_)); \
			STEP(L, 2, LOAD(a + i + 2 * w_), LOAD(b + i + 2 * w_)); \
			STEP(L, 3, LOAD(a + i + 3 * w_), LOAD(b + i + 3 * w_)); \
		} \
		for (; i + w_ <= n; i += w_) \
			STEP(L, 0, LOAD(a + i), LOAD(b + i)); \
		if (i < n) \
			STEP(L, 1, TAIL(a + i, n - i), TAIL(b + i, n - i)); \
	} while (0)

#define SIMD_L2_INTO(L, acc, x, y) \
	do { L##_VEC d_ = L##_SUB(x, y); acc = L##_FMA(d_, d_, acc); } while (0)
#define SIMD_IP_INTO(L, acc, x, y) \
	acc = L##_FMA(x, y, acc)
#define SIMD_L2_STEP(L, k, x, y)	SIMD_L2_INTO(L, s##k, x, y)
#define SIMD_IP_STEP(L, k, x, y)	SIMD_IP_INTO(L, s##k, x, y)
#define SIMD_L1_STEP(L, k, x, y) \
	s##k = L##_ADD(s##k, L##_ABS(L##_SUB(x, y)))
#define SIMD_COSINE_STEP(L, k, x, y) \
	do { \
		L##_VEC		x_ = (x), y_ = (y); \
		dot##k = L##_FMA(x_, y_, dot##k); \
		norm_a##k = L##_FMA(x_, x_, norm_a##k); \
		norm_b##k = L##_FMA(y_, y_, norm_b##k); \
	} while (0)

/* Declare the accumulator set s0..s3, and add it up. */
#define SIMD_ZERO4(L, s) \
	L##_VEC		s##0 = L##_ZERO, s##1 = s##0, s##2 = s##0, s##3 = s##0
#define SIMD_TOTAL4(L, s) \
	L##_SUM(L##_ADD(L##_ADD(s##0, s##1), L##_ADD(s##2, s##3)))

#define SIMD_DISTANCE(L, NAME, T, LOAD, TAIL, STEP) \
	L##_TARGET static float \
	NAME(const T *a, const T *b, int n) \
	{ \
		SIMD_ZERO4(L, s); \
		\
		SIMD_LOOP(L, LOAD, TAIL, STEP); \
		return SIMD_TOTAL4(L, s); \
	}

/*
 * The kernel NAME (made by SIMD_DISTANCE with the step INTO) for many
 * operands: two keys at a time, b and c, each summed exactly as NAME sums
 * it (the same accumulators, the same order), while their chains of
 * FMAs overlap and each load of a serves both.
 */
#define SIMD_DISTANCES(L, NAME, T, LOAD, TAIL, INTO) \
	L##_TARGET static void \
	NAME##_many(const T *a, const char *first, size_t stride, int count, int n, float *out) \
	{ \
		const int	w_ = L##_WIDTH; \
		int			k = 0; \
		\
		for (; k + 2 <= count; k += 2) \
		{ \
			const T    *b = (const T *) (first + stride * k); \
			const T    *c = (const T *) (first + stride * (k + 1)); \
			int			i = 0; \
			SIMD_ZERO4(L, s); \
			SIMD_ZERO4(L, t); \
			\
			for (; i + 4 * w_ <= n; i += 4 * w_) \
			{ \
				L##_VEC		x0 = LOAD(a + i), x1 = LOAD(a + i + w_), \
							x2 = LOAD(a + i + 2 * w_), x3 = LOAD(a + i + 3 * w_); \
				\
				INTO(L, s0, x0, LOAD(b + i)); \
				INTO(L, t0, x0, LOAD(c + i)); \
				INTO(L, s1, x1, LOAD(b + i + w_)); \
				INTO(L, t1, x1, LOAD(c + i + w_)); \
				INTO(L, s2, x2, LOAD(b + i + 2 * w_)); \
				INTO(L, t2, x2, LOAD(c + i + 2 * w_)); \
				INTO(L, s3, x3, LOAD(b + i + 3 * w_)); \
				INTO(L, t3, x3, LOAD(c + i + 3 * w_)); \
			} \
			for (; i + w_ <= n; i += w_) \
			{ \
				L##_VEC		x0 = LOAD(a + i); \
				\
				INTO(L, s0, x0, LOAD(b + i)); \
				INTO(L, t0, x0, LOAD(c + i)); \
			} \
			if (i < n) \
			{ \
				L##_VEC		x1 = TAIL(a + i, n - i); \
				\
				INTO(L, s1, x1, TAIL(b + i, n - i)); \
				INTO(L, t1, x1, TAIL(c + i, n - i)); \
			} \
			out[k] = SIMD_TOTAL4(L, s); \
			out[k + 1] = SIMD_TOTAL4(L, t); \
		} \
		if (k < count) \
			out[k] = NAME(a, (const T *) (first + stride * k), n); \
	}

#define SIMD_COSINE(L, NAME, T, LOAD, TAIL) \
	L##_TARGET static double \
	NAME(const T *a, const T *b, int n) \
	{ \
		SIMD_ZERO4(L, dot); \
		SIMD_ZERO4(L, norm_a); \
		SIMD_ZERO4(L, norm_b); \
		\
		SIMD_LOOP(L, LOAD, TAIL, SIMD_COSINE_STEP); \
		return AnnCosineFromParts(SIMD_TOTAL4(L, dot), SIMD_TOTAL4(L, norm_a), \
								  SIMD_TOTAL4(L, norm_b)); \
	}

/*
 * Level L's kernels, named l_l2_squared and so on, and their table
 * l_kernels.  A float16 tail goes through a zero-padded copy: masked
 * 16-bit loads need AVX-512BW, and reading past the end could fault.
 */
#define SIMD_KERNELS(L, l) \
	L##_TARGET static inline L##_VEC \
	l##_tail_halves(const AnnHalf *p, int len) \
	{ \
		AnnHalf		padded[L##_WIDTH] = {0}; \
		\
		memcpy(padded, p, len * sizeof(AnnHalf)); \
		return L##_LOADH(padded); \
	} \
	L##_TARGET static void \
	l##_half_to_float(const AnnHalf *src, float *dst, int n) \
	{ \
		int			i = 0; \
		\
		for (; i + L##_WIDTH <= n; i += L##_WIDTH) \
			L##_STORE(dst + i, L##_LOADH(src + i)); \
		for (; i < n; i++) \
			dst[i] = AnnHalfToFloat(src[i]); \
	} \
	SIMD_DISTANCE(L, l##_l2_squared, float, L##_LOAD, L##_TAIL, SIMD_L2_STEP) \
	SIMD_DISTANCE(L, l##_inner_product, float, L##_LOAD, L##_TAIL, SIMD_IP_STEP) \
	SIMD_DISTANCE(L, l##_l1, float, L##_LOAD, L##_TAIL, SIMD_L1_STEP) \
	SIMD_COSINE(L, l##_cosine, float, L##_LOAD, L##_TAIL) \
	SIMD_DISTANCE(L, l##_half_l2_squared, AnnHalf, L##_LOADH, l##_tail_halves, SIMD_L2_STEP) \
	SIMD_DISTANCE(L, l##_half_inner_product, AnnHalf, L##_LOADH, l##_tail_halves, SIMD_IP_STEP) \
	SIMD_DISTANCE(L, l##_half_l1, AnnHalf, L##_LOADH, l##_tail_halves, SIMD_L1_STEP) \
	SIMD_COSINE(L, l##_half_cosine, AnnHalf, L##_LOADH, l##_tail_halves) \
	SIMD_DISTANCES(L, l##_l2_squared, float, L##_LOAD, L##_TAIL, SIMD_L2_INTO) \
	SIMD_DISTANCES(L, l##_inner_product, float, L##_LOAD, L##_TAIL, SIMD_IP_INTO) \
	SIMD_DISTANCES(L, l##_half_l2_squared, AnnHalf, L##_LOADH, l##_tail_halves, SIMD_L2_INTO) \
	SIMD_DISTANCES(L, l##_half_inner_product, AnnHalf, L##_LOADH, l##_tail_halves, SIMD_IP_INTO)

/*
 * The bit-string kernels of level L, named l_bit_hamming and
 * l_bit_jaccard.  L provides L_BIT_TARGET, the integer vector type L_IVEC
 * of L_BYTES bytes, L_ILOAD(p), L_IZERO, L_XOR, L_AND, L_ADD64,
 * L_POPCNT64 (bits set in each 64-bit lane) and L_SUM64 (the sum of the
 * 64-bit lanes).  The main loop runs over whole vectors; the tail, shorter
 * than one, goes a word at a time with POPCNT (a zero-padded copy of it
 * stalls on store forwarding, which costs more than the short strings of
 * binary quantized vectors take in all).
 */
#define SIMD_HAMMING_STEP(L, x, y) \
	ones = L##_ADD64(ones, L##_POPCNT64(L##_XOR(x, y)))
#define SIMD_JACCARD_STEP(L, x, y) \
	do { \
		L##_IVEC	x_ = (x), y_ = (y); \
		both = L##_ADD64(both, L##_POPCNT64(L##_AND(x_, y_))); \
		ones_a = L##_ADD64(ones_a, L##_POPCNT64(x_)); \
		ones_b = L##_ADD64(ones_b, L##_POPCNT64(y_)); \
	} while (0)

#define SIMD_BIT_KERNELS(L, l) \
	L##_BIT_TARGET static uint64 \
	l##_bit_hamming(const uint8 *a, const uint8 *b, int bytes) \
	{ \
		L##_IVEC	ones = L##_IZERO; \
		int			i = 0; \
		\
		for (; i + L##_BYTES <= bytes; i += L##_BYTES) \
			SIMD_HAMMING_STEP(L, L##_ILOAD(a + i), L##_ILOAD(b + i)); \
		return L##_SUM64(ones) + count_differing(a + i, b + i, bytes - i); \
	} \
	L##_BIT_TARGET static double \
	l##_bit_jaccard(const uint8 *a, const uint8 *b, int bytes) \
	{ \
		L##_IVEC	both = L##_IZERO, ones_a = both, ones_b = both; \
		uint64		counts[3] = {0, 0, 0}; \
		int			i = 0; \
		\
		for (; i + L##_BYTES <= bytes; i += L##_BYTES) \
			SIMD_JACCARD_STEP(L, L##_ILOAD(a + i), L##_ILOAD(b + i)); \
		count_jaccard(a + i, b + i, bytes - i, counts); \
		return AnnJaccardFromCounts(L##_SUM64(both) + counts[0], L##_SUM64(ones_a) + counts[1], \
									L##_SUM64(ones_b) + counts[2]); \
	}

/* The table of level L's kernels, with the bit kernels of level bits */
#define SIMD_TABLE(L, l, name, bits) \
	{ \
		ANN_SIMD_##L, #l, \
		l##_l2_squared, l##_inner_product, l##_l1, l##_cosine, \
		l##_half_l2_squared, l##_half_inner_product, l##_half_l1, \
		l##_half_cosine, l##_half_to_float, \
		l##_l2_squared_many, l##_inner_product_many, \
		l##_half_l2_squared_many, l##_half_inner_product_many, \
		name, bits##_bit_hamming, bits##_bit_jaccard \
	}

/* ---------------------------------------------------------------------
 * AVX2 + FMA + F16C kernels (8 lanes)
 * ---------------------------------------------------------------------
 */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

/* Lanes [0, len) set, for masked loads of a tail shorter than 8. */
AVX2_TARGET static inline __m256i
avx2_tail_mask(int len)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(len),
							  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2_TARGET static inline float
avx2_sum(__m256 v)
{
	__m128		lo = _mm_add_ps(_mm256_castps256_ps128(v),
								_mm256_extractf128_ps(v, 1));

	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

AVX2_TARGET static inline __m256
avx2_abs(__m256 v)
{
	return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

#define AVX2_VEC			__m256
#define AVX2_WIDTH			8
#define AVX2_ZERO			_mm256_setzero_ps()
#define AVX2_ADD			_mm256_add_ps
#define AVX2_SUB			_mm256_sub_ps
#define AVX2_FMA			_mm256_fmadd_ps
#define AVX2_ABS			avx2_abs
#define AVX2_SUM			avx2_sum
#define AVX2_LOAD			_mm256_loadu_ps
#define AVX2_TAIL(p, len)	_mm256_maskload_ps((p), avx2_tail_mask(len))
#define AVX2_LOADH(p)		_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (p)))
#define AVX2_STORE			_mm256_storeu_ps

SIMD_KERNELS(AVX2, avx2)

#define AVX2_BIT_TARGET		__attribute__((target("avx2,popcnt")))
#define AVX2_IVEC			__m256i
#define AVX2_BYTES			32
#define AVX2_ILOAD(p)		_mm256_loadu_si256((const __m256i *) (p))
#define AVX2_IZERO			_mm256_setzero_si256()
#define AVX2_XOR			_mm256_xor_si256
#define AVX2_AND			_mm256_and_si256
#define AVX2_ADD64			_mm256_add_epi64
#define AVX2_POPCNT64		AnnAvx2Popcount64
#define AVX2_SUM64			AnnAvx2Sum64

SIMD_BIT_KERNELS(AVX2, avx2)

static const AnnKernels avx2_kernels = SIMD_TABLE(AVX2, avx2, "avx2", avx2);

/* ---------------------------------------------------------------------
 * AVX-512F kernels (16 lanes)
 * ---------------------------------------------------------------------
 */
#define AVX512_TARGET __attribute__((target("avx512f")))

#define AVX512_VEC			__m512
#define AVX512_WIDTH		16
#define AVX512_ZERO			_mm512_setzero_ps()
#define AVX512_ADD			_mm512_add_ps
#define AVX512_SUB			_mm512_sub_ps
#define AVX512_FMA			_mm512_fmadd_ps
#define AVX512_ABS			_mm512_abs_ps
#define AVX512_SUM			_mm512_reduce_add_ps
#define AVX512_LOAD			_mm512_loadu_ps
#define AVX512_TAIL(p, len) \
	_mm512_maskz_loadu_ps((__mmask16) ((1u << (len)) - 1), (p))
#define AVX512_LOADH(p)		_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (p)))
#define AVX512_STORE		_mm512_storeu_ps

SIMD_KERNELS(AVX512, avx512)

/* The bit kernels need VPOPCNTDQ beside AVX-512F (AnnCpuHasVpopcntdq) */
#define AVX512_BIT_TARGET	__attribute__((target("avx512f,avx512vpopcntdq,popcnt")))
#define AVX512_IVEC			__m512i
#define AVX512_BYTES		64
#define AVX512_ILOAD(p)		_mm512_loadu_si512((const void *) (p))
#define AVX512_IZERO		_mm512_setzero_si512()
#define AVX512_XOR			_mm512_xor_si512
#define AVX512_AND			_mm512_and_si512
#define AVX512_ADD64		_mm512_add_epi64
#define AVX512_POPCNT64		_mm512_popcnt_epi64
#define AVX512_SUM64(v)		((uint64) _mm512_reduce_add_epi64(v))

SIMD_BIT_KERNELS(AVX512, avx512)

static const AnnKernels avx512_kernels = SIMD_TABLE(AVX512, avx512, "avx512", avx512);
static const AnnKernels avx512_avx2_bit_kernels = SIMD_TABLE(AVX512, avx512, "avx2", avx2);

/* ---------------------------------------------------------------------
 * CPU detection
 * ---------------------------------------------------------------------
 */

/* XCR0 bits: SSE and AVX state, then the three AVX-512 state components */
#define XCR0_AVX_STATE		0x06
#define XCR0_AVX512_STATE	0xe0

static uint64
read_xcr0(void)
{
	uint32		eax,
				edx;

	__asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((uint64) edx << 32) | eax;
}

static AnnSimdLevel
detect_simd_level(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;
	bool		osxsave,
				avx,
				fma,
				f16c,
				popcnt;
	uint64		xcr0;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return ANN_SIMD_SCALAR;
	osxsave = (ecx & bit_OSXSAVE) != 0;
	avx = (ecx & bit_AVX) != 0;
	fma = (ecx & bit_FMA) != 0;
	f16c = (ecx & bit_F16C) != 0;
	popcnt = (ecx & bit_POPCNT) != 0;
	/* every CPU with AVX has POPCNT, which the SIMD popcount kernels use */
	if (!osxsave || !avx || !popcnt)
		return ANN_SIMD_SCALAR;

	xcr0 = read_xcr0();
	if ((xcr0 & XCR0_AVX_STATE) != XCR0_AVX_STATE)
		return ANN_SIMD_SCALAR;
	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
		return ANN_SIMD_SCALAR;

	if ((ebx & bit_AVX512F) && (xcr0 & XCR0_AVX512_STATE) == XCR0_AVX512_STATE)
		return ANN_SIMD_AVX512;
	if ((ebx & bit_AVX2) && fma && f16c)
		return ANN_SIMD_AVX2;
	return ANN_SIMD_SCALAR;
}

/* AVX-512 VPOPCNTDQ, which the AVX-512 popcount kernels need */
bool
AnnCpuHasVpopcntdq(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;

	return AnnBestSimdLevel() == ANN_SIMD_AVX512 &&
		__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ecx & bit_AVX512VPOPCNTDQ);
}

#else							/* !ANN_X86_SIMD */

static AnnSimdLevel
detect_simd_level(void)
{
	return ANN_SIMD_SCALAR;
}

bool
AnnCpuHasVpopcntdq(void)
{
	return false;
}

#endif							/* ANN_X86_SIMD */

/*
 * The best level this CPU runs.  AVX-512F implies the AVX2 set on every
 * CPU that has shipped, so the levels are nested.
 */
AnnSimdLevel
AnnBestSimdLevel(void)
{
	static int	cached = -1;

	if (cached < 0)
		cached = (int) detect_simd_level();
	return (AnnSimdLevel) cached;
}

/* The kernel set for a level, or NULL if this CPU cannot run it. */
const AnnKernels *
AnnKernelsForLevel(AnnSimdLevel level)
{
	if (level > AnnBestSimdLevel())
		return NULL;
	switch (level)
	{
		case ANN_SIMD_SCALAR:
			return &scalar_kernels;
#ifdef ANN_X86_SIMD
		case ANN_SIMD_AVX2:
			return &avx2_kernels;
		case ANN_SIMD_AVX512:
			return AnnCpuHasVpopcntdq() ? &avx512_kernels : &avx512_avx2_bit_kernels;
#endif
		default:
			return NULL;
	}
}

const char *
AnnSimdLevelName(AnnSimdLevel level)
{
	static const char *const names[ANN_SIMD_NLEVELS] = {"scalar", "avx2", "avx512"};

	return (level >= 0 && level < ANN_SIMD_NLEVELS) ? names[level] : "unknown";
}

/* Choose the kernels once; called from _PG_init. */
void
AnnDistanceInit(void)
{
	ann_kernels = AnnKernelsForLevel(AnnBestSimdLevel());
}
