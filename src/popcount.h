/*
 * popcount.h
 *		AVX2 bit counting, shared by the popcount kernels of distance.c
 *		(bit strings) and codes.c (RaBitQ codes).
 *
 * AVX2 has no vector popcount: each nibble is looked up in a 16-entry
 * table with VPSHUFB, and the byte counts are summed per 64-bit lane
 * with VPSADBW.  Include only from x86-64 code, after <immintrin.h>.
 */
#ifndef ANN_POPCOUNT_H
#define ANN_POPCOUNT_H

#define ANN_AVX2_POPCOUNT_TARGET __attribute__((target("avx2")))

/* Bits set in each 64-bit lane of v */
ANN_AVX2_POPCOUNT_TARGET static inline __m256i
AnnAvx2Popcount64(__m256i v)
{
	const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
										   0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i nibble = _mm256_set1_epi8(0x0f);
	__m256i		low = _mm256_shuffle_epi8(table, _mm256_and_si256(v, nibble));
	__m256i		high = _mm256_shuffle_epi8(table,
										   _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));

	return _mm256_sad_epu8(_mm256_add_epi8(low, high), _mm256_setzero_si256());
}

/* The sum of the four 64-bit lanes of v */
ANN_AVX2_POPCOUNT_TARGET static inline uint64
AnnAvx2Sum64(__m256i v)
{
	__m128i		sum = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	return (uint64) _mm_cvtsi128_si64(sum) + (uint64) _mm_extract_epi64(sum, 1);
}

#endif							/* ANN_POPCOUNT_H */
