/*
 * spanncheck.c
 *		ann_check_index for spann: the directory, the lists and their radii.
 *
 * The check walks the group chain from the metapage, each group's chain
 * of centroid pages, and the posting chain of every live list, one share
 * lock at a time (a centroid page is released before its lists are
 * walked: appends lock posting pages before centroid pages).  Chains must
 * hold pages of their kind, without cycles, and pass the page their owner
 * names (a group's tail, a list's fill page); no posting page may be in
 * two lists; tuples must have their size.  Every entry must lie within
 * its list's radius, which is read again after the list was walked (an
 * insert widens it just after its append), since strict_order scans rely
 * on it.  Heap TIDs are collected for heapallindexed.  The list and group counts must match
 * the metapage's, unless a split or merge ran meanwhile.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"

#include "anncheck.h"
#include "spann.h"

typedef struct SpannCheck
{
	Relation	index;
	const SpannIndexInfo *info;
	BlockNumber nblocks;
	bool	   *in_a_list;		/* posting pages met so far */
	AnnTidSet  *tids;
	uint32		nlists;			/* live lists met */
	uint32		ngroups;
} SpannCheck;

/* A list as its centroid tuple gave it, and where that is */
typedef struct CheckedList
{
	BlockNumber cblkno;
	OffsetNumber coffset;
	SpannCentroidTuple tuple;	/* a copy */
	char	   *key;			/* its key (read from its key pages if long) */
} CheckedList;

/*
 * Inserts beside the check extend the index: a block past the size seen
 * so far makes the check look at the size again, and widen its array of
 * posting pages met.
 */
static void
see_block(SpannCheck *check, BlockNumber blkno)
{
	BlockNumber nblocks;

	if (blkno < check->nblocks)
		return;
	nblocks = RelationGetNumberOfBlocks(check->index);
	if (nblocks <= check->nblocks)
		return;
	check->in_a_list = repalloc(check->in_a_list, sizeof(bool) * nblocks);
	memset(check->in_a_list + check->nblocks, 0, sizeof(bool) * (nblocks - check->nblocks));
	check->nblocks = nblocks;
}

/* Is blkno a block of the index, other than the metapage? */
static bool
block_in_index(SpannCheck *check, BlockNumber blkno)
{
	see_block(check, blkno);
	return blkno != ANN_METAPAGE_BLKNO && blkno < check->nblocks;
}

/* The radius of the list at (cblkno, coffset) now, or -1 if it was replaced */
static float
current_radius(SpannCheck *check, const CheckedList *list)
{
	Buffer		buffer = ReadBuffer(check->index, list->cblkno);
	SpannCentroidTuple c;
	float		radius = -1;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	c = SpannPageGetCentroid(check->index, list->cblkno, BufferGetPage(buffer), list->coffset);
	if (c->head == list->tuple->head)
		radius = c->radius;
	UnlockReleaseBuffer(buffer);
	return radius;
}

/*
 * An entry of a vector (or halfvec) key: its vector tuple holds its row,
 * and its code is the one that vector and the list's centroid give.  The
 * vector's key goes to key.
 */
static void
check_vector_entry(SpannCheck *check, BlockNumber blkno, OffsetNumber off, SpannEntryTuple e,
				   const float *rotated_centroid, char *key)
{
	const SpannIndexInfo *info = check->info;
	SpannRow	row = {e->heaptid, e->vector};
	float	   *rotated;
	SpannEntryTuple want;

	if (!ItemPointerIsValid(&e->vector) ||
		!block_in_index(check, ItemPointerGetBlockNumber(&e->vector)) ||
		!SpannReadVector(check->index, &row, key))
		AnnCheckFailed(check->index, blkno, off, "An entry's vector tuple holds another row.");
	/* the vector tuple holds no signatures: the entry's own complete the key */
	if (info->signature_size > 0)
		memcpy(key + info->filter_offset, SpannEntrySignatures(info, e), info->signature_size);
	rotated = SpannRotate(info, SpannKeyElements(key));
	want = SpannMakeEntry(info, &row, key, rotated, rotated_centroid);
	if (memcmp(want->code, e->code, sizeof(uint64) * info->code_words) != 0 ||
		fabsf(want->factors.norm - e->factors.norm) > 1e-3f * Max(want->factors.norm, 1e-3f))
		AnnCheckFailed(check->index, blkno, off,
					   "An entry's code is not that of its vector in its list.");
	pfree(want);
	pfree(rotated);
}

/*
 * An entry of a bit key: it names no vector tuple, and the bits past the
 * key's length in its last byte are zero (the kernels count whole
 * bytes).  The key it holds goes to key.
 */
static void
check_bit_entry(SpannCheck *check, BlockNumber blkno, OffsetNumber off, SpannEntryTuple e,
				char *key)
{
	int			tail = check->info->dimensions % BITS_PER_BYTE;
	const bits8 *bits = (const bits8 *) e->code;

	if (ItemPointerIsValid(&e->vector))
		AnnCheckFailed(check->index, blkno, off, "An entry of a bit key names a vector tuple.");
	if (tail != 0 && (bits[check->info->dimensions / BITS_PER_BYTE] & (0xFF >> tail)) != 0)
		AnnCheckFailed(check->index, blkno, off, "An entry has bits set past its key's length.");
	SpannEntryKey(check->index, e, key);
}

/*
 * One entry, its posting page share-locked (so VACUUM cannot have freed
 * its vector tuple).  Returns its key's radius distance from the
 * centroid.
 */
static float
check_entry(SpannCheck *check, BlockNumber blkno, OffsetNumber off, SpannEntryTuple e,
			const void *centroid, const float *rotated_centroid)
{
	/* room for the signatures after the key (check_vector_entry) */
	char	   *key = palloc(AnnFilterKeySize(&check->info->filters, check->info->keysize));
	float		distance;

	if (!ItemPointerIsValid(&e->heaptid))
		AnnCheckFailed(check->index, blkno, off, "An entry has no heap TID.");
	if (check->info->entry_holds_key)
		check_bit_entry(check, blkno, off, e, key);
	else
		check_vector_entry(check, blkno, off, e, rotated_centroid, key);
	distance = SpannRadiusDistance(check->info, SpannKeyElements(key), centroid);
	pfree(key);
	return distance;
}

/* Walk one live list: its pages, entries, fill page and radius */
static void
check_list(SpannCheck *check, const CheckedList *list)
{
	const void *centroid = SpannKeyElements(list->key);
	float	   *rotated_centroid = SpannRotate(check->info, centroid);
	SpannChainWalk walk;
	Page		page;
	bool		fill_met = false;
	float		farthest = 0;
	OffsetNumber farthest_at = InvalidOffsetNumber;
	BlockNumber farthest_block = InvalidBlockNumber;
	float		radius;

	if (!block_in_index(check, list->tuple->head) || !block_in_index(check, list->tuple->fill))
		AnnCheckFailed(check->index, list->cblkno, list->coffset,
					   "A list's head or fill page lies outside the index.");
	SpannChainBegin(&walk, check->index, list->tuple->head, SPANN_PAGE_POSTING);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		/* the walk read the page, so the index holds it */
		see_block(check, walk.blkno);
		if (check->in_a_list[walk.blkno])
			AnnCheckFailed(check->index, walk.blkno, InvalidOffsetNumber,
						   "A posting page is in two lists.");
		check->in_a_list[walk.blkno] = true;
		fill_met |= walk.blkno == list->tuple->fill;
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			SpannEntryTuple e = SpannPageGetEntry(check->index, walk.blkno, page, off);
			float		d = check_entry(check, walk.blkno, off, e, centroid, rotated_centroid);

			AnnTidSetAdd(check->tids, &e->heaptid);
			if (d > farthest)
			{
				farthest = d;
				farthest_block = walk.blkno;
				farthest_at = off;
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (!fill_met)
		AnnCheckFailed(check->index, list->cblkno, list->coffset,
					   "A list's fill page is not on its chain.");
	radius = current_radius(check, list);
	if (radius >= 0 && farthest > radius * (1 + SPANN_BOUND_MARGIN))
		AnnCheckFailed(check->index, farthest_block, farthest_at,
					   psprintf("An entry lies at %g from its centroid, outside the list's radius %g.",
								farthest, radius));
	check->nlists++;
}

/*
 * The live lists of a group's chain of centroid pages, copied page by
 * page; each page is released before its lists are walked
 */
static void
check_group(SpannCheck *check, BlockNumber head, BlockNumber tail)
{
	Size		size = check->info->centroid_tuple_size;
	SpannChainWalk walk;
	Page		page;
	bool		tail_met = !BlockNumberIsValid(head);

	SpannChainBegin(&walk, check->index, head, SPANN_PAGE_CENTROIDS);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		int			n = 0;
		CheckedList *lists = palloc(sizeof(CheckedList) * Max(PageGetMaxOffsetNumber(page), 1));
		BlockNumber blkno = walk.blkno;

		tail_met |= blkno == tail;
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			SpannCentroidTuple c = AnnPageGetItemChecked(check->index, blkno, page, off, size);

			if (!BlockNumberIsValid(c->head))
				continue;		/* a free slot */
			lists[n].cblkno = blkno;
			lists[n].coffset = off;
			lists[n].tuple = palloc(size);
			memcpy(lists[n].tuple, c, size);
			lists[n].key = palloc(check->info->keysize);
			SpannCopyKey(check->index, check->info, c->key, lists[n].key);
			n++;
		}
		SpannChainEnd(&walk);
		for (int i = 0; i < n; i++)
			check_list(check, &lists[i]);
		pfree(lists);
	}
	if (!tail_met)
		AnnCheckFailed(check->index, head, InvalidOffsetNumber,
					   "A group's tail is not on its chain of centroid pages.");
}

/*
 * Check a spann index (AccessShareLock held), adding the heap TIDs of its
 * entries to tids.  Raises INDEX_CORRUPTED at the first problem.  Returns
 * whether a split or merge changed the lists during the check.
 */
bool
SpannCheckIndex(Relation index, AnnTidSet *tids)
{
	SpannCheck	check;
	SpannMetaPageData meta;
	SpannMetaPageData after;
	SpannChainWalk walk;
	Page		page;
	Size		gsize;

	SpannReadMeta(index, &meta);
	check.index = index;
	check.info = SpannGetIndexInfo(index);
	check.nblocks = RelationGetNumberOfBlocks(index);
	check.in_a_list = palloc0(sizeof(bool) * check.nblocks);
	check.tids = tids;
	check.nlists = check.ngroups = 0;
	gsize = check.info->group_tuple_size;

	SpannChainBegin(&walk, index, meta.group_head, SPANN_PAGE_GROUPS);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		int			n = PageGetMaxOffsetNumber(page);
		BlockNumber *heads = palloc(sizeof(BlockNumber) * 2 * Max(n, 1));

		for (OffsetNumber off = FirstOffsetNumber; off <= n; off++)
		{
			SpannGroupTuple g = AnnPageGetItemChecked(index, walk.blkno, page, off, gsize);

			heads[2 * (off - 1)] = g->head;
			heads[2 * (off - 1) + 1] = g->tail;
		}
		/* the group page is released while its groups' lists are walked */
		SpannChainEnd(&walk);
		for (int i = 0; i < n; i++)
			check_group(&check, heads[2 * i], heads[2 * i + 1]);
		check.ngroups += n;
		pfree(heads);
	}

	SpannReadMeta(index, &after);
	if (after.directory_version != meta.directory_version)
		return true;
	if (check.nlists != meta.nlists || check.ngroups != meta.ngroups)
		AnnCheckFailed(index, ANN_METAPAGE_BLKNO, InvalidOffsetNumber,
					   psprintf("The metapage counts %u lists in %u groups; the directory holds %u in %u.",
								meta.nlists, meta.ngroups, check.nlists, check.ngroups));
	return false;
}
