/*
 * bitvec.c
 *		Distances between values of PostgreSQL's bit type, and binary
 *		quantization of vector and halfvec into it.
 *
 * The bit type is PostgreSQL's own (utils/varbit.h): a bit count, then
 * the bits packed eight to a byte, first bit in the high-order bit, with
 * the unused bits of the last byte always zero.  The distances count set
 * bits over whole bytes with the popcount kernels of distance.c, which
 * that zero padding makes exact.
 */
#include "postgres.h"

#include "vector.h"

/*
 * Both distances are defined only between strings of the same length;
 * the number of bytes the kernels count over.
 */
static int
bit_operand_bytes(const VarBit *a, const VarBit *b)
{
	if (VARBITLEN(a) != VARBITLEN(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different bit lengths %d and %d", VARBITLEN(a), VARBITLEN(b))));
	return VARBITBYTES(a);
}

#define BIT_OPERANDS(a, b, bytes) \
	VarBit	   *a = PG_GETARG_VARBIT_P(0); \
	VarBit	   *b = PG_GETARG_VARBIT_P(1); \
	int			bytes = bit_operand_bytes(a, b)

/* The number of positions at which a and b differ */
PG_FUNCTION_INFO_V1(hamming_distance);
Datum
hamming_distance(PG_FUNCTION_ARGS)
{
	BIT_OPERANDS(a, b, bytes);

	PG_RETURN_FLOAT8((double) ann_kernels->bit_hamming(VARBITS(a), VARBITS(b), bytes));
}

/* 1 - |a AND b| / |a OR b|, and 1 when no bit is set in both */
PG_FUNCTION_INFO_V1(jaccard_distance);
Datum
jaccard_distance(PG_FUNCTION_ARGS)
{
	BIT_OPERANDS(a, b, bytes);

	PG_RETURN_FLOAT8(ann_kernels->bit_jaccard(VARBITS(a), VARBITS(b), bytes));
}

/* A bit string of the given length, every bit zero */
VarBit *
InitBitString(int bits)
{
	VarBit	   *result = palloc0(VARBITTOTALLEN(bits));

	SET_VARSIZE(result, VARBITTOTALLEN(bits));
	VARBITLEN(result) = bits;
	return result;
}

/*
 * One bit per element of x, set when the element is positive: bit i is
 * the (7 - i % 8)th bit of byte i / 8.  The padding bits stay zero.
 */
static VarBit *
quantize(const float *x, int dim)
{
	VarBit	   *result = InitBitString(dim);
	bits8	   *bits = VARBITS(result);

	for (int i = 0; i < dim; i++)
		if (x[i] > 0.0f)
			bits[i / BITS_PER_BYTE] |= 0x80 >> (i % BITS_PER_BYTE);
	return result;
}

PG_FUNCTION_INFO_V1(binary_quantize);
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_VARBIT_P(quantize(v->x, v->dim));
}

/* The same for halfvec, whose elements widen to float32 exactly */
PG_FUNCTION_INFO_V1(halfvec_binary_quantize);
Datum
halfvec_binary_quantize(PG_FUNCTION_ARGS)
{
	HalfVector *h = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_VARBIT_P(quantize(AnnHalfvecToFloats(h), h->dim));
}
