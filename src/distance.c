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
 * SIMD kernels keep several independent accumulators so the FMA latency
 * is hidden, and finish short tails with masked loads (AVX-512F, AVX2 for
 * float32) or a zero-padded copy (float16), which adds nothing to any of
 * the sums computed here.
 */
#include "postgres.h"

#include "distance.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ANN_X86_SIMD 1
#include <cpuid.h>
#include <immintrin.h>
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

static const AnnKernels scalar_kernels = {
	ANN_SIMD_SCALAR, "scalar",
	scalar_l2_squared, scalar_inner_product, scalar_l1, scalar_cosine,
	scalar_half_l2_squared, scalar_half_inner_product, scalar_half_l1,
	scalar_half_cosine, scalar_half_to_float
};

#ifdef ANN_X86_SIMD

/* ---------------------------------------------------------------------
 * AVX2 + FMA + F16C kernels (8 lanes)
 * ---------------------------------------------------------------------
 */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

/* Lanes [0, remaining) set, for masked loads of a tail shorter than 8. */
AVX2_TARGET static inline __m256i
avx2_tail_mask(int remaining)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(remaining),
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

/*
 * The float32 AVX2 kernels share one shape: four accumulators over blocks
 * of 32, single vectors, then one masked tail.  STEP(acc, x, y) folds the
 * vectors x and y into acc.
 */
#define AVX2_FLOAT_LOOP(STEP) \
	do { \
		int			i = 0; \
		for (; i + 32 <= n; i += 32) \
		{ \
			STEP(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)); \
			STEP(s1, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)); \
			STEP(s2, _mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16)); \
			STEP(s3, _mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24)); \
		} \
		for (; i + 8 <= n; i += 8) \
			STEP(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)); \
		if (i < n) \
		{ \
			__m256i		mask = avx2_tail_mask(n - i); \
			STEP(s1, _mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask)); \
		} \
	} while (0)

#define AVX2_L2_STEP(acc, x, y) \
	do { __m256 d_ = _mm256_sub_ps(x, y); acc = _mm256_fmadd_ps(d_, d_, acc); } while (0)
#define AVX2_IP_STEP(acc, x, y) \
	acc = _mm256_fmadd_ps(x, y, acc)
#define AVX2_L1_STEP(acc, x, y) \
	acc = _mm256_add_ps(acc, avx2_abs(_mm256_sub_ps(x, y)))

#define AVX2_ZERO4 \
	__m256		s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0

#define AVX2_TOTAL4 \
	avx2_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))

AVX2_TARGET static float
avx2_l2_squared(const float *a, const float *b, int n)
{
	AVX2_ZERO4;

	AVX2_FLOAT_LOOP(AVX2_L2_STEP);
	return AVX2_TOTAL4;
}

AVX2_TARGET static float
avx2_inner_product(const float *a, const float *b, int n)
{
	AVX2_ZERO4;

	AVX2_FLOAT_LOOP(AVX2_IP_STEP);
	return AVX2_TOTAL4;
}

AVX2_TARGET static float
avx2_l1(const float *a, const float *b, int n)
{
	AVX2_ZERO4;

	AVX2_FLOAT_LOOP(AVX2_L1_STEP);
	return AVX2_TOTAL4;
}

AVX2_TARGET static double
avx2_cosine(const float *a, const float *b, int n)
{
	__m256		dot = _mm256_setzero_ps(),
				norm_a = dot,
				norm_b = dot;
	int			i = 0;

	for (; i < n; i += 8)
	{
		__m256		x,
					y;

		if (i + 8 <= n)
		{
			x = _mm256_loadu_ps(a + i);
			y = _mm256_loadu_ps(b + i);
		}
		else
		{
			__m256i		mask = avx2_tail_mask(n - i);

			x = _mm256_maskload_ps(a + i, mask);
			y = _mm256_maskload_ps(b + i, mask);
		}
		dot = _mm256_fmadd_ps(x, y, dot);
		norm_a = _mm256_fmadd_ps(x, x, norm_a);
		norm_b = _mm256_fmadd_ps(y, y, norm_b);
	}
	return AnnCosineFromParts(avx2_sum(dot), avx2_sum(norm_a), avx2_sum(norm_b));
}

/* Widen 8 halves at src, or the n - i < 8 left at the tail, zero-padded. */
AVX2_TARGET static inline __m256
avx2_load_halves(const AnnHalf *src, int i, int n)
{
	AnnHalf		padded[8] = {0};

	if (i + 8 <= n)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (src + i)));
	memcpy(padded, src + i, (n - i) * sizeof(AnnHalf));
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) padded));
}

/*
 * The float16 AVX2 kernels: two accumulators over blocks of 16 halves,
 * then blocks of 8 with the last one padded.
 */
#define AVX2_HALF_LOOP(STEP) \
	do { \
		int			i = 0; \
		for (; i + 16 <= n; i += 16) \
		{ \
			STEP(s0, avx2_load_halves(a, i, n), avx2_load_halves(b, i, n)); \
			STEP(s1, avx2_load_halves(a, i + 8, n), avx2_load_halves(b, i + 8, n)); \
		} \
		for (; i < n; i += 8) \
			STEP(s2, avx2_load_halves(a, i, n), avx2_load_halves(b, i, n)); \
	} while (0)

AVX2_TARGET static float
avx2_half_l2_squared(const AnnHalf *a, const AnnHalf *b, int n)
{
	AVX2_ZERO4;

	AVX2_HALF_LOOP(AVX2_L2_STEP);
	return AVX2_TOTAL4;
}

AVX2_TARGET static float
avx2_half_inner_product(const AnnHalf *a, const AnnHalf *b, int n)
{
	AVX2_ZERO4;

	AVX2_HALF_LOOP(AVX2_IP_STEP);
	return AVX2_TOTAL4;
}

AVX2_TARGET static float
avx2_half_l1(const AnnHalf *a, const AnnHalf *b, int n)
{
	AVX2_ZERO4;

	AVX2_HALF_LOOP(AVX2_L1_STEP);
	return AVX2_TOTAL4;
}

AVX2_TARGET static double
avx2_half_cosine(const AnnHalf *a, const AnnHalf *b, int n)
{
	__m256		dot = _mm256_setzero_ps(),
				norm_a = dot,
				norm_b = dot;

	for (int i = 0; i < n; i += 8)
	{
		__m256		x = avx2_load_halves(a, i, n);
		__m256		y = avx2_load_halves(b, i, n);

		dot = _mm256_fmadd_ps(x, y, dot);
		norm_a = _mm256_fmadd_ps(x, x, norm_a);
		norm_b = _mm256_fmadd_ps(y, y, norm_b);
	}
	return AnnCosineFromParts(avx2_sum(dot), avx2_sum(norm_a), avx2_sum(norm_b));
}

AVX2_TARGET static void
avx2_half_to_float(const AnnHalf *src, float *dst, int n)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i,
						 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (src + i))));
	for (; i < n; i++)
		dst[i] = AnnHalfToFloat(src[i]);
}

static const AnnKernels avx2_kernels = {
	ANN_SIMD_AVX2, "avx2",
	avx2_l2_squared, avx2_inner_product, avx2_l1, avx2_cosine,
	avx2_half_l2_squared, avx2_half_inner_product, avx2_half_l1,
	avx2_half_cosine, avx2_half_to_float
};

/* ---------------------------------------------------------------------
 * AVX-512F kernels (16 lanes)
 * ---------------------------------------------------------------------
 */
#define AVX512_TARGET __attribute__((target("avx512f")))

#define AVX512_FLOAT_LOOP(STEP) \
	do { \
		int			i = 0; \
		for (; i + 64 <= n; i += 64) \
		{ \
			STEP(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)); \
			STEP(s1, _mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16)); \
			STEP(s2, _mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32)); \
			STEP(s3, _mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48)); \
		} \
		for (; i + 16 <= n; i += 16) \
			STEP(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)); \
		if (i < n) \
		{ \
			__mmask16	mask = (__mmask16) ((1u << (n - i)) - 1); \
			STEP(s1, _mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i)); \
		} \
	} while (0)

#define AVX512_L2_STEP(acc, x, y) \
	do { __m512 d_ = _mm512_sub_ps(x, y); acc = _mm512_fmadd_ps(d_, d_, acc); } while (0)
#define AVX512_IP_STEP(acc, x, y) \
	acc = _mm512_fmadd_ps(x, y, acc)
#define AVX512_L1_STEP(acc, x, y) \
	acc = _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y)))

#define AVX512_ZERO4 \
	__m512		s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0

#define AVX512_TOTAL4 \
	_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))

AVX512_TARGET static float
avx512_l2_squared(const float *a, const float *b, int n)
{
	AVX512_ZERO4;

	AVX512_FLOAT_LOOP(AVX512_L2_STEP);
	return AVX512_TOTAL4;
}

AVX512_TARGET static float
avx512_inner_product(const float *a, const float *b, int n)
{
	AVX512_ZERO4;

	AVX512_FLOAT_LOOP(AVX512_IP_STEP);
	return AVX512_TOTAL4;
}

AVX512_TARGET static float
avx512_l1(const float *a, const float *b, int n)
{
	AVX512_ZERO4;

	AVX512_FLOAT_LOOP(AVX512_L1_STEP);
	return AVX512_TOTAL4;
}

AVX512_TARGET static double
avx512_cosine(const float *a, const float *b, int n)
{
	__m512		dot = _mm512_setzero_ps(),
				norm_a = dot,
				norm_b = dot;

	for (int i = 0; i < n; i += 16)
	{
		__mmask16	mask = (n - i >= 16) ? 0xffff : (__mmask16) ((1u << (n - i)) - 1);
		__m512		x = _mm512_maskz_loadu_ps(mask, a + i);
		__m512		y = _mm512_maskz_loadu_ps(mask, b + i);

		dot = _mm512_fmadd_ps(x, y, dot);
		norm_a = _mm512_fmadd_ps(x, x, norm_a);
		norm_b = _mm512_fmadd_ps(y, y, norm_b);
	}
	return AnnCosineFromParts(_mm512_reduce_add_ps(dot),
							  _mm512_reduce_add_ps(norm_a),
							  _mm512_reduce_add_ps(norm_b));
}

/* Widen 16 halves at src + i, or the n - i < 16 left, zero-padded. */
AVX512_TARGET static inline __m512
avx512_load_halves(const AnnHalf *src, int i, int n)
{
	AnnHalf		padded[16] = {0};

	if (i + 16 <= n)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (src + i)));
	memcpy(padded, src + i, (n - i) * sizeof(AnnHalf));
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) padded));
}

#define AVX512_HALF_LOOP(STEP) \
	do { \
		int			i = 0; \
		for (; i + 32 <= n; i += 32) \
		{ \
			STEP(s0, avx512_load_halves(a, i, n), avx512_load_halves(b, i, n)); \
			STEP(s1, avx512_load_halves(a, i + 16, n), avx512_load_halves(b, i + 16, n)); \
		} \
		for (; i < n; i += 16) \
			STEP(s2, avx512_load_halves(a, i, n), avx512_load_halves(b, i, n)); \
	} while (0)

AVX512_TARGET static float
avx512_half_l2_squared(const AnnHalf *a, const AnnHalf *b, int n)
{
	AVX512_ZERO4;

	AVX512_HALF_LOOP(AVX512_L2_STEP);
	return AVX512_TOTAL4;
}

AVX512_TARGET static float
avx512_half_inner_product(const AnnHalf *a, const AnnHalf *b, int n)
{
	AVX512_ZERO4;

	AVX512_HALF_LOOP(AVX512_IP_STEP);
	return AVX512_TOTAL4;
}

AVX512_TARGET static float
avx512_half_l1(const AnnHalf *a, const AnnHalf *b, int n)
{
	AVX512_ZERO4;

	AVX512_HALF_LOOP(AVX512_L1_STEP);
	return AVX512_TOTAL4;
}

AVX512_TARGET static double
avx512_half_cosine(const AnnHalf *a, const AnnHalf *b, int n)
{
	__m512		dot = _mm512_setzero_ps(),
				norm_a = dot,
				norm_b = dot;

	for (int i = 0; i < n; i += 16)
	{
		__m512		x = avx512_load_halves(a, i, n);
		__m512		y = avx512_load_halves(b, i, n);

		dot = _mm512_fmadd_ps(x, y, dot);
		norm_a = _mm512_fmadd_ps(x, x, norm_a);
		norm_b = _mm512_fmadd_ps(y, y, norm_b);
	}
	return AnnCosineFromParts(_mm512_reduce_add_ps(dot),
							  _mm512_reduce_add_ps(norm_a),
							  _mm512_reduce_add_ps(norm_b));
}

AVX512_TARGET static void
avx512_half_to_float(const AnnHalf *src, float *dst, int n)
{
	int			i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i,
						 _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (src + i))));
	for (; i < n; i++)
		dst[i] = AnnHalfToFloat(src[i]);
}

static const AnnKernels avx512_kernels = {
	ANN_SIMD_AVX512, "avx512",
	avx512_l2_squared, avx512_inner_product, avx512_l1, avx512_cosine,
	avx512_half_l2_squared, avx512_half_inner_product, avx512_half_l1,
	avx512_half_cosine, avx512_half_to_float
};

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
				f16c;
	uint64		xcr0;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return ANN_SIMD_SCALAR;
	osxsave = (ecx & bit_OSXSAVE) != 0;
	avx = (ecx & bit_AVX) != 0;
	fma = (ecx & bit_FMA) != 0;
	f16c = (ecx & bit_F16C) != 0;
	if (!osxsave || !avx)
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

#else							/* !ANN_X86_SIMD */

static AnnSimdLevel
detect_simd_level(void)
{
	return ANN_SIMD_SCALAR;
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
			return &avx512_kernels;
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
