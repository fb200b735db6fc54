/*
 * annfilter.h
 *		Filter key columns: the columns after the vector in an hnsw or
 *		spann index, which let a scan skip rows its WHERE clause rejects.
 *
 * Each such column is stored beside the vector as one 64-bit signature:
 * a hash of the value for scalar columns (int4, int8, text, uuid), a
 * small Bloom filter of the element hashes for array columns (int4[],
 * int8[], text[]).  Signatures can collide, so a scan that uses them asks
 * the executor to recheck its conditions; they never reject a row that
 * passes (no false negatives).
 */
#ifndef ANN_FILTER_H
#define ANN_FILTER_H

#include "access/skey.h"
#include "utils/rel.h"

/* Strategy numbers of the filter opclasses */
#define ANN_FILTER_EQUAL		1	/* scalar = value (IN: = ANY(array)) */
#define ANN_FILTER_OVERLAP		2	/* array && array */
#define ANN_FILTER_CONTAINS		3	/* array @> array */

#define ANN_MAX_FILTER_COLUMNS	8

/*
 * A summary of many rows' signatures (a spann list's): per filter column
 * a 2048-bit Bloom filter of scalar hashes, or for an array column the
 * union of its signatures in the first 64 bits.
 */
#define ANN_SUMMARY_BYTES		256

typedef uint64 AnnSignature;

/* The filter key columns of an index: index columns 2 .. ncolumns + 1 */
typedef struct AnnFilterColumns
{
	int			ncolumns;
	bool		is_array[ANN_MAX_FILTER_COLUMNS];
	Oid			type[ANN_MAX_FILTER_COLUMNS];	/* the scalar or element type */
	int16		typlen[ANN_MAX_FILTER_COLUMNS]; /* of type, to take arrays apart */
	bool		typbyval[ANN_MAX_FILTER_COLUMNS];
	char		typalign[ANN_MAX_FILTER_COLUMNS];
} AnnFilterColumns;

/* One scan condition, compiled for signature tests */
typedef struct AnnFilterTerm
{
	int			column;			/* 0-based among the filter columns */
	int			strategy;		/* ANN_FILTER_* */
	int			nvalues;
	AnnSignature *values;		/* EQUAL: sorted hashes; else element masks */
} AnnFilterTerm;

/* The conjunction of a scan's conditions */
typedef struct AnnFilter
{
	int			nterms;
	AnnFilterTerm *terms;
	bool		impossible;		/* a condition no row can meet (e.g. = NULL) */
	int			only_column;	/* >= 0: the filter is column = only_value */
	AnnSignature only_value;
} AnnFilter;

extern void AnnFilterColumnsInit(Relation index, AnnFilterColumns *columns);
extern Size AnnFilterOffset(Size keysize);
extern Size AnnFilterKeySize(const AnnFilterColumns *columns, Size keysize);
extern void AnnFilterSignatures(const AnnFilterColumns *columns, const Datum *values,
								const bool *isnull, char *out);
extern Datum AnnFilterComposeKey(const AnnFilterColumns *columns, Datum key, Size keysize,
								 const Datum *values, const bool *isnull);
extern AnnFilter *AnnFilterFromScanKeys(const AnnFilterColumns *columns, ScanKey keys,
										int nkeys);
extern bool AnnFilterMatchesTerms(const AnnFilter *filter, const char *signatures);
extern Size AnnSummarySize(const AnnFilterColumns *columns);
extern bool AnnSummaryAdd(const AnnFilterColumns *columns, char *summary,
						  const char *signatures);
extern bool AnnFilterSummaryMatches(const AnnFilter *filter, const char *summary);

/*
 * May the row with these signatures meet every condition of filter?
 * Scans call this for every row they meet: the commonest filter, one
 * value of one column, is tested here without a call.
 */
static inline bool
AnnFilterMatches(const AnnFilter *filter, const char *signatures)
{
	if (filter->only_column >= 0)
	{
		AnnSignature sig;

		memcpy(&sig, signatures + sizeof(AnnSignature) * filter->only_column, sizeof(sig));
		return sig == filter->only_value;
	}
	return AnnFilterMatchesTerms(filter, signatures);
}

#endif							/* ANN_FILTER_H */
