/*
 * annfilter.c
 *		Signatures of filter key columns, and scan conditions tested
 *		against them (see annfilter.h).
 *
 * Integers hash by value as int64, so an int4 column and an int8
 * constant agree; text hashes its bytes, which is equality under a
 * deterministic collation (other collations are refused); uuid hashes
 * its 16 bytes.  An array column sets three bits of its 64-bit
 * signature per element, chosen by the element's hash.
 */
#include "postgres.h"

#include "access/genam.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

#include "annfilter.h"
#include "annutils.h"

#define NULL_SIGNATURE		((AnnSignature) 0)

static bool
supported_type(Oid type)
{
	return type == INT4OID || type == INT8OID || type == TEXTOID || type == UUIDOID;
}

/*
 * Read the filter columns of an index, refusing what we cannot index:
 * a vector after the first column, a type without signatures, text
 * under a nondeterministic collation.  (AnnResolveDistance refuses a
 * first column that is not a vector.)
 */
void
AnnFilterColumnsInit(Relation index, AnnFilterColumns *columns)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);

	if (natts - 1 > ANN_MAX_FILTER_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an ann index can have at most %d filter columns",
						ANN_MAX_FILTER_COLUMNS)));

	columns->ncolumns = natts - 1;
	for (int i = 0; i < columns->ncolumns; i++)
	{
		int			attno = i + 2;
		Oid			type = TupleDescAttr(RelationGetDescr(index), attno - 1)->atttypid;
		Oid			element = get_element_type(type);
		Oid			collation = index->rd_indcollation[attno - 1];

		if (OidIsValid(index_getprocid(index, attno, ANN_DISTANCE_PROC)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("only the first column of an ann index can be a vector")));
		columns->is_array[i] = OidIsValid(element);
		columns->type[i] = columns->is_array[i] ? element : type;
		if (!supported_type(columns->type[i]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("filter column of type %s is not supported", format_type_be(type)),
					 errhint("Filter columns can be int4, int8, text, uuid, int4[], int8[] or text[].")));
		if (columns->type[i] == TEXTOID && OidIsValid(collation) &&
			!get_collation_isdeterministic(collation))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("filter columns cannot use a nondeterministic collation")));
		get_typlenbyvalalign(columns->type[i], &columns->typlen[i], &columns->typbyval[i],
							 &columns->typalign[i]);
	}
}

/* Where the signatures start after a key of keysize bytes */
Size
AnnFilterOffset(Size keysize)
{
	return TYPEALIGN(sizeof(AnnSignature), keysize);
}

/* Bytes of a key followed by its signatures (just the key without filters) */
Size
AnnFilterKeySize(const AnnFilterColumns *columns, Size keysize)
{
	if (columns->ncolumns == 0)
		return keysize;
	return AnnFilterOffset(keysize) + sizeof(AnnSignature) * columns->ncolumns;
}

/* Hash of a value of one of the supported types */
static uint64
value_hash(Oid type, Datum value)
{
	int64		integer;

	switch (type)
	{
		case INT4OID:
			integer = DatumGetInt32(value);
			return hash_bytes_extended((const unsigned char *) &integer, sizeof(integer), 0);
		case INT8OID:
			integer = DatumGetInt64(value);
			return hash_bytes_extended((const unsigned char *) &integer, sizeof(integer), 0);
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				return hash_bytes_extended((const unsigned char *) VARDATA_ANY(t),
										   VARSIZE_ANY_EXHDR(t), 0);
			}
		case UUIDOID:
			return hash_bytes_extended(DatumGetUUIDP(value)->data, UUID_LEN, 0);
		default:
			elog(ERROR, "ann filter: unsupported type %u", type);
	}
	return 0;					/* keep the compiler quiet */
}

/* The three signature bits of one array element */
static AnnSignature
element_mask(uint64 hash)
{
	return ((AnnSignature) 1 << (hash & 63)) |
		((AnnSignature) 1 << ((hash >> 6) & 63)) |
		((AnnSignature) 1 << ((hash >> 12) & 63));
}

/* Elements of an array; *nvalues of them, with NULL flags */
static void
array_elements(Datum array, Datum **values, bool **nulls, int *nvalues, Oid *element_type)
{
	ArrayType  *a = DatumGetArrayTypeP(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	*element_type = ARR_ELEMTYPE(a);
	get_typlenbyvalalign(*element_type, &typlen, &typbyval, &typalign);
	deconstruct_array(a, *element_type, typlen, typbyval, typalign, values, nulls, nvalues);
}

static AnnSignature
array_signature(Datum array)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;
	Oid			type;
	AnnSignature sig = 0;

	array_elements(array, &values, &nulls, &n, &type);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			sig |= element_mask(value_hash(type, values[i]));
	return sig;
}

/*
 * Write the signatures of the filter columns of one index tuple
 * (values[1 ..]) to out.
 */
void
AnnFilterSignatures(const AnnFilterColumns *columns, const Datum *values, const bool *isnull,
					char *out)
{
	for (int i = 0; i < columns->ncolumns; i++)
	{
		AnnSignature sig = NULL_SIGNATURE;

		if (!isnull[i + 1])
			sig = columns->is_array[i] ? array_signature(values[i + 1]) :
				value_hash(columns->type[i], values[i + 1]);
		memcpy(out + sizeof(AnnSignature) * i, &sig, sizeof(sig));
	}
}

/*
 * The stored form of a key with filter columns: the key (keysize bytes),
 * padding, then the signatures; palloc'd.  Without filter columns, the
 * key itself.
 */
Datum
AnnFilterComposeKey(const AnnFilterColumns *columns, Datum key, Size keysize,
					const Datum *values, const bool *isnull)
{
	char	   *composed;

	if (columns->ncolumns == 0)
		return key;
	composed = palloc0(AnnFilterKeySize(columns, keysize));
	memcpy(composed, DatumGetPointer(key), keysize);
	AnnFilterSignatures(columns, values, isnull, composed + AnnFilterOffset(keysize));
	return PointerGetDatum(composed);
}

static int
compare_signatures(const void *a, const void *b)
{
	AnnSignature x = *(const AnnSignature *) a;
	AnnSignature y = *(const AnnSignature *) b;

	return (x > y) - (x < y);
}

/*
 * Compile one scan key.  Returns false when no row can meet it: a NULL
 * argument, an empty IN list or && array, @> of an array with a NULL.
 */
static bool
compile_term(const AnnFilterColumns *columns, ScanKey key, AnnFilterTerm *term)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;
	Oid			type;

	term->column = key->sk_attno - 2;
	term->strategy = key->sk_strategy;
	term->nvalues = 0;
	if (key->sk_flags & SK_ISNULL)
		return false;
	if (term->strategy == ANN_FILTER_EQUAL && !(key->sk_flags & SK_SEARCHARRAY))
	{
		Oid			argtype = OidIsValid(key->sk_subtype) ? key->sk_subtype :
			columns->type[term->column];

		term->values = palloc(sizeof(AnnSignature));
		term->values[term->nvalues++] = value_hash(argtype, key->sk_argument);
		return true;
	}

	array_elements(key->sk_argument, &values, &nulls, &n, &type);
	term->values = palloc(sizeof(AnnSignature) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
		{
			if (term->strategy == ANN_FILTER_CONTAINS)
				return false;
			continue;
		}
		if (term->strategy == ANN_FILTER_EQUAL)
			term->values[term->nvalues++] = value_hash(type, values[i]);
		else
			term->values[term->nvalues++] = element_mask(value_hash(type, values[i]));
	}
	if (term->strategy == ANN_FILTER_EQUAL)
		qsort(term->values, term->nvalues, sizeof(AnnSignature), compare_signatures);
	else if (term->strategy == ANN_FILTER_CONTAINS)
	{
		/* every element's bits must be there: test their union at once */
		AnnSignature all = 0;

		for (int i = 0; i < term->nvalues; i++)
			all |= term->values[i];
		term->values[0] = all;
		term->nvalues = 1;
		return true;
	}
	return term->nvalues > 0;
}

/*
 * Compile a scan's conditions on filter columns; NULL when it has none.
 * The caller must ask the executor to recheck (signatures can collide).
 */
AnnFilter *
AnnFilterFromScanKeys(const AnnFilterColumns *columns, ScanKey keys, int nkeys)
{
	AnnFilter  *filter;

	if (nkeys == 0)
		return NULL;
	filter = palloc0(sizeof(AnnFilter));
	filter->terms = palloc(sizeof(AnnFilterTerm) * nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		Assert(keys[i].sk_attno >= 2 && keys[i].sk_attno - 2 < columns->ncolumns);
		if (!compile_term(columns, &keys[i], &filter->terms[filter->nterms++]))
			filter->impossible = true;
	}
	filter->only_column = -1;
	if (filter->nterms == 1 && !filter->impossible &&
		filter->terms[0].strategy == ANN_FILTER_EQUAL && filter->terms[0].nvalues == 1)
	{
		filter->only_column = filter->terms[0].column;
		filter->only_value = filter->terms[0].values[0];
	}
	return filter;
}

/* Is sig among the n sorted values?  (Called for every row a scan meets.) */
static inline bool
contains_signature(const AnnSignature *values, int n, AnnSignature sig)
{
	int			lo = 0;

	while (n > 4)
	{
		int			half = n / 2;

		if (values[lo + half] <= sig)
		{
			lo += half;
			n -= half;
		}
		else
			n = half;
	}
	for (int i = lo; i < lo + n; i++)
		if (values[i] == sig)
			return true;
	return false;
}

static inline bool
term_matches(const AnnFilterTerm *term, AnnSignature sig)
{
	switch (term->strategy)
	{
		case ANN_FILTER_EQUAL:
			return contains_signature(term->values, term->nvalues, sig);
		case ANN_FILTER_OVERLAP:
			for (int i = 0; i < term->nvalues; i++)
				if ((sig & term->values[i]) == term->values[i])
					return true;
			return false;
		case ANN_FILTER_CONTAINS:
			return (sig & term->values[0]) == term->values[0];
	}
	return false;
}

/* AnnFilterMatches for filters other than one value of one column */
bool
AnnFilterMatchesTerms(const AnnFilter *filter, const char *signatures)
{
	if (filter->impossible)
		return false;
	for (int i = 0; i < filter->nterms; i++)
	{
		const AnnFilterTerm *term = &filter->terms[i];
		AnnSignature sig;

		memcpy(&sig, signatures + sizeof(AnnSignature) * term->column, sizeof(sig));
		if (!term_matches(term, sig))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Summaries
 * ---------------------------------------------------------------------
 */

#define SUMMARY_WORDS		(ANN_SUMMARY_BYTES / sizeof(uint64))

Size
AnnSummarySize(const AnnFilterColumns *columns)
{
	return ANN_SUMMARY_BYTES * columns->ncolumns;
}

/* Bit k (0..2) of a scalar hash in a column's summary, from its own 16 bits */
static inline int
summary_bit(AnnSignature hash, int k)
{
	StaticAssertStmt(ANN_SUMMARY_BYTES * 8 <= 65536, "summary bits must fit 16 bits");
	return (int) ((hash >> (16 * k)) & (ANN_SUMMARY_BYTES * 8 - 1));
}

static inline bool
summary_has_value(const uint64 *words, AnnSignature hash)
{
	for (int k = 0; k < 3; k++)
	{
		int			bit = summary_bit(hash, k);

		if (!(words[bit / 64] & ((uint64) 1 << (bit % 64))))
			return false;
	}
	return true;
}

/*
 * Add one row's signatures to a summary; returns whether it changed.
 */
bool
AnnSummaryAdd(const AnnFilterColumns *columns, char *summary, const char *signatures)
{
	bool		changed = false;

	for (int i = 0; i < columns->ncolumns; i++)
	{
		uint64		words[SUMMARY_WORDS];
		AnnSignature sig;
		char	   *at = summary + ANN_SUMMARY_BYTES * i;

		memcpy(words, at, ANN_SUMMARY_BYTES);
		memcpy(&sig, signatures + sizeof(AnnSignature) * i, sizeof(sig));
		if (columns->is_array[i])
		{
			changed |= (words[0] | sig) != words[0];
			words[0] |= sig;
		}
		else if (!summary_has_value(words, sig))
		{
			for (int k = 0; k < 3; k++)
				words[summary_bit(sig, k) / 64] |= (uint64) 1 << (summary_bit(sig, k) % 64);
			changed = true;
		}
		memcpy(at, words, ANN_SUMMARY_BYTES);
	}
	return changed;
}

/*
 * May some row of the summary meet the term?  Scalar terms (EQUAL) test
 * the Bloom filter; an array column's summary is a union of signatures,
 * which the array terms test as they test one row's signature.
 */
static bool
term_summary_matches(const AnnFilterTerm *term, const uint64 *words)
{
	if (term->strategy != ANN_FILTER_EQUAL)
		return term_matches(term, words[0]);
	for (int i = 0; i < term->nvalues; i++)
		if (summary_has_value(words, term->values[i]))
			return true;
	return false;
}

/*
 * May some row summarised meet every condition?  Each condition is
 * tested alone, so rows meeting different ones can make a false "may".
 */
bool
AnnFilterSummaryMatches(const AnnFilter *filter, const char *summary)
{
	if (filter->impossible)
		return false;
	for (int i = 0; i < filter->nterms; i++)
	{
		uint64		words[SUMMARY_WORDS];

		memcpy(words, summary + ANN_SUMMARY_BYTES * filter->terms[i].column, ANN_SUMMARY_BYTES);
		if (!term_summary_matches(&filter->terms[i], words))
			return false;
	}
	return true;
}
