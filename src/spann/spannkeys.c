/*
 * spannkeys.c
 *		Where a spann tuple keeps its key: in the tuple, or, for a key too
 *		large for a page (a long key), on key pages of its own.
 *
 * Vector, centroid and group tuples hold a key (a centroid's followed by
 * the summary of its entries' signatures).  When a vector tuple holding
 * its key would not fit a page (vector beyond about 2,030 dimensions,
 * halfvec beyond 4,060), all three hold an AnnLongKeyRef instead: the
 * first page of a chain that AnnWriteLongKey wrote.  A centroid's
 * summary follows the reference.
 *
 * A chain is read only while the page of the tuple that points to it is
 * locked, and rewritten or freed only while that page is locked
 * exclusively, so nobody reads a chain half rewritten or after it was
 * freed.  Lock order: a tuple's page, then its key pages.  A vector
 * tuple keeps its chain when VACUUM frees its slot, and the next row
 * stored in the slot rewrites it; a split gives the centroids it writes
 * new chains and frees the replaced centroid's; group centres never
 * change.  A crash between writing a chain and the tuple that points to
 * it leaves pages nothing points to.
 */
#include "postgres.h"

#include "storage/indexfsm.h"

#include "spann.h"

/* Must keys of keysize bytes live on key pages? */
bool
SpannKeysAreLong(Size keysize)
{
	return SPANN_VECTOR_TUPLE_SIZE(keysize) > SPANN_MAX_TUPLE_SIZE;
}

/*
 * The tuple sizes of an index whose keysize, centroid_keysize and
 * filter_offset are set.
 */
void
SpannKeyInfoInit(SpannIndexInfo *info)
{
	Size		summary = info->filters.ncolumns > 0 ? AnnSummarySize(&info->filters) : 0;

	if (!SpannKeysAreLong(info->keysize))
	{
		info->long_keysize = 0;
		info->summary_offset = info->filter_offset;
		info->vector_tuple_size = SPANN_VECTOR_TUPLE_SIZE(info->keysize);
		info->centroid_tuple_size = SPANN_CENTROID_TUPLE_SIZE(info->centroid_keysize);
		info->group_tuple_size = SPANN_GROUP_TUPLE_SIZE(info->keysize);
		return;
	}
	info->long_keysize = info->keysize;
	info->summary_offset = sizeof(AnnLongKeyRef);
	info->vector_tuple_size = SPANN_VECTOR_TUPLE_SIZE(sizeof(AnnLongKeyRef));
	info->centroid_tuple_size = SPANN_CENTROID_TUPLE_SIZE(sizeof(AnnLongKeyRef) + summary);
	info->group_tuple_size = SPANN_GROUP_TUPLE_SIZE(sizeof(AnnLongKeyRef));
}

/*
 * Store key (keysize bytes) in a tuple's key field: in place, or on key
 * pages, rewriting the chain from rewrite (the caller holds the page of
 * the tuple that owns it exclusively) or, when that is invalid, a new one.
 */
void
SpannPutKey(Relation index, const SpannIndexInfo *info, bool building, char *field,
			const char *key, BlockNumber rewrite)
{
	if (info->long_keysize == 0)
	{
		memcpy(field, key, info->keysize);
		return;
	}
	AnnSetLongKeyPage(field, AnnWriteLongKey(index, building, ANN_SPANN_PAGE_ID, SPANN_PAGE_KEY,
											 key, info->long_keysize, rewrite));
}

/*
 * Store a centroid's key and summary (stored: centroid_keysize bytes, as
 * kept in memory) in a new centroid tuple.
 */
void
SpannPutCentroidKey(Relation index, const SpannIndexInfo *info, bool building,
					SpannCentroidTuple tuple, const char *stored)
{
	SpannPutKey(index, info, building, tuple->key, stored, InvalidBlockNumber);
	if (info->filters.ncolumns > 0)
		memcpy(tuple->key + info->summary_offset, stored + info->filter_offset,
			   AnnSummarySize(&info->filters));
}

/*
 * The key a tuple's key field holds (keysize bytes): the field itself, or
 * the long key read into scratch.  The caller holds the tuple's page.
 */
const char *
SpannGetKey(Relation index, const SpannIndexInfo *info, const char *field, char *scratch)
{
	if (info->long_keysize == 0)
		return field;
	AnnReadLongKey(index, ANN_SPANN_PAGE_ID, SPANN_PAGE_KEY, AnnLongKeyPage(field),
				   info->known_nblocks, scratch, info->long_keysize);
	return scratch;
}

/* Copy the key a tuple's key field holds to out (keysize bytes) */
void
SpannCopyKey(Relation index, const SpannIndexInfo *info, const char *field, char *out)
{
	const char *key = SpannGetKey(index, info, field, out);

	if (key != out)
		memcpy(out, key, info->keysize);
}

/*
 * Free the key pages of a replaced centroid, which nothing points to any
 * more, for AnnNewBuffer to recycle.
 */
void
SpannFreeKeyPages(Relation index, BlockNumber first)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	BlockNumber blkno = first;

	for (int i = 0; i < AnnKeyPageCount(info->long_keysize) && BlockNumberIsValid(blkno); i++)
	{
		Buffer		buffer = AnnReadLinkedBuffer(index, blkno, info->known_nblocks, NULL);
		AnnEdit		edit;
		Page		page;
		BlockNumber next;

		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		AnnCheckPage(index, blkno, BufferGetPage(buffer), ANN_SPANN_PAGE_ID, SPANN_PAGE_KEY);
		next = AnnPageGetOpaque(BufferGetPage(buffer))->nextblkno;
		AnnEditBegin(&edit, index, false);
		page = AnnEditRegister(&edit, buffer, false);
		AnnPageGetOpaque(page)->flags = ANN_PAGE_FREE;
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
		RecordFreeIndexPage(index, blkno);
		blkno = next;
	}
}
