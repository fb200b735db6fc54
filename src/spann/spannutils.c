/*
 * spannutils.c
 *		spann page and tuple helpers: the cached index facts, appends to
 *		posting lists, and whole-list reads (the centroid directory is in
 *		spanndirectory.c).
 *
 * Locking (README, "Locking"): readers take a share lock on one page at
 * a time.  An append locks posting pages before the centroid page it
 * updates, and nothing locks a posting page while holding a centroid
 * page, so the two orders cannot cross.
 */
#include "postgres.h"

#include <math.h>

#include "access/transam.h"
#include "utils/timestamp.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "anncheck.h"
#include "distance.h"
#include "spann.h"

/* ---------------------------------------------------------------------
 * Heavyweight locks
 * ---------------------------------------------------------------------
 */

/*
 * spann's list and split locks nest (README, "Locking"): a split holds the
 * split lock while it takes list locks, a merge a list lock while it
 * appends to others.  Page locks (LockPage) must not: PostgreSQL assumes
 * that no other heavyweight lock but a relation extension is taken while
 * one is held, and its deadlock detector skips their wait edges.  Tuple
 * locks on a TID no index tuple has (offset 0) may nest and are checked
 * like any other lock.
 */
static void
lock_tag(BlockNumber tag, ItemPointer tid)
{
	ItemPointerSetBlockNumber(tid, tag);
	tid->ip_posid = InvalidOffsetNumber;
}

void
SpannLock(Relation index, BlockNumber tag, LOCKMODE mode)
{
	ItemPointerData tid;

	lock_tag(tag, &tid);
	LockTuple(index, &tid, mode);
}

bool
SpannConditionalLock(Relation index, BlockNumber tag, LOCKMODE mode)
{
	ItemPointerData tid;

	lock_tag(tag, &tid);
	return ConditionalLockTuple(index, &tid, mode);
}

void
SpannUnlock(Relation index, BlockNumber tag, LOCKMODE mode)
{
	ItemPointerData tid;

	lock_tag(tag, &tid);
	UnlockTuple(index, &tid, mode);
}

/* ---------------------------------------------------------------------
 * Index facts and the metapage
 * ---------------------------------------------------------------------
 */

/* Dimensions and distance, read once and cached in rd_amcache. */
const SpannIndexInfo *
SpannGetIndexInfo(Relation index)
{
	if (index->rd_amcache == NULL)
	{
		SpannMetaPageData meta;
		SpannIndexInfo *info = MemoryContextAllocZero(index->rd_indexcxt,
													  sizeof(SpannIndexInfo));

		SpannReadMeta(index, &meta);
		AnnResolveDistance(index, &info->dist);
		info->dimensions = meta.dimensions;
		info->keysize = AnnKeySize(&info->dist, info->dimensions);
		AnnFilterColumnsInit(index, &info->filters);
		/* arrays of keys keep each aligned: a bit(n) key can be 10 bytes */
		info->entry_keysize = MAXALIGN(AnnFilterKeySize(&info->filters, info->keysize));
		info->centroid_keysize = SpannCentroidKeySize(&info->filters, info->keysize);
		info->filter_offset = AnnFilterOffset(info->keysize);
		SpannKeyInfoInit(info);
		SpannCodeInfoInit(info, meta.code_bits, index->rd_indexcxt);
		info->known_nblocks = MemoryContextAllocZero(index->rd_indexcxt, sizeof(BlockNumber));
		*info->known_nblocks = RelationGetNumberOfBlocks(index);
		index->rd_amcache = info;
	}
	return (const SpannIndexInfo *) index->rd_amcache;
}

/* Bytes of a centroid's key followed by its summary (if filter columns) */
Size
SpannCentroidKeySize(const AnnFilterColumns *filters, Size keysize)
{
	if (filters->ncolumns == 0)
		return keysize;
	return AnnFilterOffset(keysize) + AnnSummarySize(filters);
}

/*
 * May the list hold rows that meet filter?  Its centroid's summary says
 * no only when none does; a list replaced meanwhile says yes.
 */
bool
SpannListMayMatch(Relation index, const SpannListRef *list, const AnnFilter *filter)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Buffer		buffer = ReadBuffer(index, list->cblkno);
	SpannCentroidTuple c;
	bool		may = true;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	c = SpannPageGetCentroid(index, list->cblkno, BufferGetPage(buffer), list->coffset);
	if (c->head == list->head)
		may = AnnFilterSummaryMatches(filter, c->key + info->summary_offset);
	UnlockReleaseBuffer(buffer);
	return may;
}

/* Copy the metapage, after checking it is one we can read. */
void
SpannReadMeta(Relation index, SpannMetaPageData *meta)
{
	AnnReadMeta(index, "spann", SPANN_MAGIC, SPANN_VERSION, meta, sizeof(SpannMetaPageData));
}

/*
 * Lock the metapage exclusively, register it in edit (begun), and return
 * its contents to change.
 */
SpannMetaPage
SpannEditMeta(AnnEdit *edit, Relation index)
{
	Buffer		buffer = ReadBuffer(index, ANN_METAPAGE_BLKNO);

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	return (SpannMetaPage) PageGetContents(AnnEditRegister(edit, buffer, false));
}

/* A metapage for an index without lists. */
void
SpannInitMetaPage(Page page, int dimensions, int code_bits)
{
	SpannMetaPage meta;

	AnnInitPage(page, ANN_SPANN_PAGE_ID, SPANN_PAGE_META);
	meta = (SpannMetaPage) PageGetContents(page);
	memset(meta, 0, sizeof(SpannMetaPageData));
	meta->header.magic = SPANN_MAGIC;
	meta->header.version = SPANN_VERSION;
	meta->stamp = (uint64) GetCurrentTimestamp();
	meta->dimensions = dimensions;
	meta->code_bits = code_bits;
	meta->list_limit = 0;		/* sized as the index grows (SpannSplitLimit) */
	meta->group_head = InvalidBlockNumber;
	meta->group_tail = InvalidBlockNumber;
	meta->vector_page = InvalidBlockNumber;
	/* keep the metadata below pd_lower: generic WAL zeroes the hole */
	((PageHeader) page)->pd_lower = (char *) (meta + 1) - (char *) page;
}

/*
 * The centroid tuple at offno of a centroid page (block blkno); anything
 * else there raises INDEX_CORRUPTED.
 */
SpannCentroidTuple
SpannPageGetCentroid(Relation index, BlockNumber blkno, Page page, OffsetNumber offno)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);

	AnnCheckPage(index, blkno, page, ANN_SPANN_PAGE_ID, SPANN_PAGE_CENTROIDS);
	return (SpannCentroidTuple) AnnPageGetItemChecked(index, blkno, page, offno,
													  info->centroid_tuple_size);
}

/* Is this a page of a posting list (live or retired)? */
static bool
is_posting_page(Page page)
{
	AnnPageOpaque opaque = AnnPageGetOpaque(page);

	return !PageIsNew(page) && opaque->page_id == ANN_SPANN_PAGE_ID &&
		(opaque->flags & SPANN_PAGE_POSTING) && !(opaque->flags & ANN_PAGE_FREE);
}

/*
 * A palloc'd copy of a list's centroid key, or NULL when the slot no
 * longer holds the list that starts at head.
 */
void *
SpannReadCentroidKey(Relation index, BlockNumber cblkno, OffsetNumber coffset,
					 BlockNumber head)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Buffer		buffer = ReadBuffer(index, cblkno);
	SpannCentroidTuple c;
	void	   *key = NULL;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	c = SpannPageGetCentroid(index, cblkno, BufferGetPage(buffer), coffset);
	if (c->head == head)
	{
		key = palloc(info->keysize);
		SpannCopyKey(index, info, c->key, key);
	}
	UnlockReleaseBuffer(buffer);
	return key;
}

/* ---------------------------------------------------------------------
 * Chains of pages
 * ---------------------------------------------------------------------
 */

/* The entry at off of posting page page (block blkno), checked */
SpannEntryTuple
SpannPageGetEntry(Relation index, BlockNumber blkno, Page page, OffsetNumber off)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);

	return (SpannEntryTuple) AnnPageGetItemChecked(index, blkno, page, off, info->entry_size);
}

/*
 * Read block blkno, the next page of a chain whose pages must be of one
 * of kinds (SPANN_PAGE_* flags), and lock it in mode: one more step of a
 * walk that bound bounds (AnnChainStep).  Returns the buffer, pinned
 * and locked; a page of another kind, or a cycle, raises INDEX_CORRUPTED.
 */
Buffer
SpannReadChainPage(Relation index, BlockNumber blkno, uint16 kinds, int mode,
				   AnnChainBound *bound, BufferAccessStrategy strategy)
{
	Buffer		buffer;

	AnnChainStep(index, blkno, bound);
	buffer = AnnReadLinkedBuffer(index, blkno, SpannGetIndexInfo(index)->known_nblocks, strategy);
	LockBuffer(buffer, mode);
	AnnCheckPage(index, blkno, BufferGetPage(buffer), ANN_SPANN_PAGE_ID, kinds);
	return buffer;
}

/*
 * Start a walk along the chain from head, whose pages must be of one of
 * kinds (SPANN_PAGE_* flags); a page of another kind, or a cycle, raises
 * INDEX_CORRUPTED.
 */
void
SpannChainBegin(SpannChainWalk *walk, Relation index, BlockNumber head, uint16 kinds)
{
	walk->index = index;
	walk->kinds = kinds;
	walk->bound = AnnChainStart(*SpannGetIndexInfo(index)->known_nblocks);
	walk->next = head;
	walk->blkno = InvalidBlockNumber;
	walk->buffer = InvalidBuffer;
}

/* The next page of the walk, share-locked (the previous one released), or NULL at the end */
Page
SpannChainNext(SpannChainWalk *walk)
{
	Page		page;

	SpannChainEnd(walk);
	if (!BlockNumberIsValid(walk->next))
		return NULL;
	walk->blkno = walk->next;
	walk->buffer = SpannReadChainPage(walk->index, walk->blkno, walk->kinds, BUFFER_LOCK_SHARE,
									  &walk->bound, NULL);
	page = BufferGetPage(walk->buffer);
	walk->next = AnnPageGetOpaque(page)->nextblkno;
	return page;
}

/* Release the page the walk holds, if any */
void
SpannChainEnd(SpannChainWalk *walk)
{
	if (BufferIsValid(walk->buffer))
		UnlockReleaseBuffer(walk->buffer);
	walk->buffer = InvalidBuffer;
}

/* ---------------------------------------------------------------------
 * Posting lists
 * ---------------------------------------------------------------------
 */

/*
 * A new empty posting page, registered in edit as a full image.  Returns
 * its buffer, pinned and exclusively locked (edit's caller unlocks it).
 */
Buffer
SpannNewPostingPage(AnnEdit *edit, Relation index, Page *page)
{
	Buffer		buffer = AnnNewBuffer(index, MAIN_FORKNUM);

	*page = AnnEditRegister(edit, buffer, true);
	AnnInitPage(*page, ANN_SPANN_PAGE_ID, SPANN_PAGE_POSTING);
	return buffer;
}

/*
 * Lock a list's centroid page exclusively, register it in edit, and
 * return the list's centroid tuple, or NULL if the slot no longer holds
 * that list.  The page stays locked either way (AnnEditUnlockRelease);
 * its buffer goes to *buffer unless that is NULL.
 */
SpannCentroidTuple
SpannEditList(AnnEdit *edit, Relation index, const SpannListRef *list, Buffer *buffer)
{
	Buffer		cbuffer = ReadBuffer(index, list->cblkno);
	SpannCentroidTuple c;

	LockBuffer(cbuffer, BUFFER_LOCK_EXCLUSIVE);
	c = SpannPageGetCentroid(index, list->cblkno, AnnEditRegister(edit, cbuffer, false),
							 list->coffset);
	if (buffer != NULL)
		*buffer = cbuffer;
	return c->head == list->head ? c : NULL;
}

/*
 * SpannEditList for a list the caller holds the list lock on
 * exclusively: nothing can have replaced it, and if something did, the
 * index is corrupt.
 */
SpannCentroidTuple
SpannEditLockedList(AnnEdit *edit, Relation index, const SpannListRef *list)
{
	SpannCentroidTuple c = SpannEditList(edit, index, list, NULL);

	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("spann list at block %u of index \"%s\" was replaced while locked",
						list->head, RelationGetRelationName(index))));
	return c;
}

/*
 * Lock and return the first page of a chain, from blkno on, with room for
 * size bytes, or else its last page.
 */
static Buffer
lock_page_with_room(Relation index, BlockNumber blkno, Size size)
{
	AnnChainBound bound = AnnChainStart(*SpannGetIndexInfo(index)->known_nblocks);

	for (;;)
	{
		Buffer		buffer = SpannReadChainPage(index, blkno, SPANN_PAGE_POSTING,
												BUFFER_LOCK_EXCLUSIVE, &bound, NULL);
		Page		page = BufferGetPage(buffer);
		BlockNumber next = AnnPageGetOpaque(page)->nextblkno;

		if (PageGetFreeSpace(page) >= size || !BlockNumberIsValid(next))
			return buffer;
		UnlockReleaseBuffer(buffer);
		blkno = next;
	}
}

/* Read a list's fill page, or return InvalidBlockNumber if the list is gone. */
static BlockNumber
centroid_fill(Relation index, const SpannListRef *list)
{
	Buffer		buffer = ReadBuffer(index, list->cblkno);
	SpannCentroidTuple c;
	BlockNumber fill = InvalidBlockNumber;
	bool		found;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	c = SpannPageGetCentroid(index, list->cblkno, BufferGetPage(buffer), list->coffset);
	found = c->head == list->head;
	if (found)
		fill = c->fill;
	UnlockReleaseBuffer(buffer);
	if (found && !BlockNumberIsValid(fill))
		AnnCheckFailed(index, list->cblkno, list->coffset, "A list has a head but no fill page.");
	return fill;
}

/*
 * Does an entry with key, just appended to the list of centroid tuple c,
 * lie outside the list's radius?  During a build the radius simply grows
 * to take it in (no scan reads the index yet) and this returns 0;
 * otherwise it returns the radius the list needs (with
 * SPANN_RADIUS_SLACK), 0 when the radius already covers the entry.
 */
static float
entry_outside(Relation index, SpannCentroidTuple c, const void *key, bool building)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	char	   *scratch = info->long_keysize > 0 ? palloc(info->keysize) : NULL;
	float		distance = SpannRadiusDistance(info, SpannKeyElements(key),
										   SpannKeyElements(SpannGetKey(index, info, c->key,
																		scratch)));

	if (scratch != NULL)
		pfree(scratch);

	if (distance <= c->radius)
		return 0;
	if (building)
	{
		c->radius = distance;
		return 0;
	}
	return distance * SPANN_RADIUS_SLACK;
}

/*
 * Widen a list's radius to at least radius.  Backends' directory copies
 * hold radii, so this bumps the directory version, locking the metapage
 * and then the centroid page (the directory's lock order).  Until this
 * record, the entry lies outside the radius that scans see; it is not
 * visible to them yet, as its transaction has not committed.
 */
static void
widen_radius(Relation index, const SpannListRef *list, float radius)
{
	AnnEdit		edit;
	SpannMetaPage meta;
	SpannCentroidTuple c;

	AnnEditBegin(&edit, index, false);
	meta = SpannEditMeta(&edit, index);
	c = SpannEditList(&edit, index, list, NULL);
	if (c == NULL || c->radius >= radius)
		AnnEditAbort(&edit);	/* split meanwhile, or widened by another */
	else
	{
		c->radius = radius;
		meta->directory_version++;
		AnnEditFinish(&edit);
	}
	AnnEditUnlockRelease(&edit);
}

/*
 * Append one entry (made for this list by SpannMakeEntry from key, the
 * whole entry key, signatures included) to a list.  The
 * caller keeps the list from being replaced (a share lock on it, or a
 * build).  The entry goes to the list's fill page or the first page
 * after it with room, else to a new page linked after the last.  One WAL
 * record covers that page (and the last page a new one is linked to) and
 * the centroid page, whose count and fill page change.
 * Returns the list's new entry count, or -1 if the list is gone; if
 * split_at is not NULL, sets it to the list's own split limit (0: none).
 */
int
SpannAppend(Relation index, const SpannListRef *list, SpannEntryTuple entry, const char *key,
			bool building, uint32 *split_at)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		size = info->entry_size;
	BlockNumber first_try = centroid_fill(index, list);
	BlockNumber fill;
	Buffer		buffer;
	Page		page;
	SpannCentroidTuple c;
	AnnEdit		edit;
	int			count;
	float		wider = 0;

	if (!BlockNumberIsValid(first_try))
		return -1;
	buffer = lock_page_with_room(index, first_try, size);
	AnnEditBegin(&edit, index, building);
	page = AnnEditRegister(&edit, buffer, false);
	if (PageGetFreeSpace(page) < size)
	{
		Page		newpage;
		Buffer		newbuffer = SpannNewPostingPage(&edit, index, &newpage);

		AnnPageGetOpaque(page)->nextblkno = BufferGetBlockNumber(newbuffer);
		page = newpage;
		fill = BufferGetBlockNumber(newbuffer);
	}
	else
		fill = BufferGetBlockNumber(buffer);
	if (PageAddItem(page, (Item) entry, size, InvalidOffsetNumber, false, false) ==
		InvalidOffsetNumber)
		elog(ERROR, "failed to add entry to spann index \"%s\"", RelationGetRelationName(index));

	c = SpannEditList(&edit, index, list, NULL);
	if (c == NULL)
		elog(ERROR, "spann list at block %u of index \"%s\" changed during an append",
			 list->head, RelationGetRelationName(index));
	/* unless VACUUM (or another append) moved it meanwhile: keep its room */
	if (c->fill == first_try)
		c->fill = fill;
	count = ++c->count;
	if (info->filters.ncolumns > 0)
		AnnSummaryAdd(&info->filters, c->key + info->summary_offset,
					  (const char *) key + info->filter_offset);
	wider = entry_outside(index, c, key, building);
	if (split_at != NULL)
		*split_at = c->split_at;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
	if (wider > 0)
		widen_radius(index, list, wider);
	return count;
}

/*
 * Flag every page of a chain no list reaches any more retired (with the
 * next transaction ID) or, if now, free and in the free space map; one
 * record a page.  Returns how many pages it has.
 */
static BlockNumber
end_chain(Relation index, BlockNumber head, bool now)
{
	TransactionId xid = ReadNextTransactionId();
	BlockNumber blkno = head;
	BlockNumber npages = 0;
	AnnChainBound bound = AnnChainStart(*SpannGetIndexInfo(index)->known_nblocks);

	while (BlockNumberIsValid(blkno))
	{
		BlockNumber this_block = blkno;
		Buffer		buffer = SpannReadChainPage(index, blkno, SPANN_PAGE_POSTING,
												BUFFER_LOCK_EXCLUSIVE, &bound, NULL);
		AnnEdit		edit;
		Page		page;

		AnnEditBegin(&edit, index, false);
		page = AnnEditRegister(&edit, buffer, false);
		if (now)
			AnnPageGetOpaque(page)->flags = ANN_PAGE_FREE;
		else
		{
			AnnPageGetOpaque(page)->flags |= SPANN_PAGE_RETIRED;
			((PageHeader) page)->pd_prune_xid = xid;
		}
		npages++;
		blkno = AnnPageGetOpaque(page)->nextblkno;
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
		/* once unlocked: a writer the map gives it to must get its lock */
		if (now)
			RecordFreeIndexPage(index, this_block);
	}
	return npages;
}

/*
 * Flag every page of a replaced list retired: VACUUM frees them once no
 * snapshot from before can be scanning them.  Readers that had the list
 * in hand still read it whole.
 */
void
SpannRetireChain(Relation index, BlockNumber head)
{
	end_chain(index, head, false);
}

/*
 * Free every page of a replaced list at once, when no reader can have it
 * in hand (VACUUM); returns how many.
 */
BlockNumber
SpannFreeChain(Relation index, BlockNumber head)
{
	return end_chain(index, head, true);
}

/*
 * Copy every entry of the list starting at head: its rows into *rows,
 * whole entry keys (entry_keysize bytes each: the key, SpannEntryKey,
 * then the entry's signatures) into *keys, both palloc'd.  Returns
 * the number of entries.  The caller holds the list lock (or is VACUUM,
 * which holds them all): no entry's row is being removed.
 */
int
SpannReadList(Relation index, BlockNumber head, SpannRow **rows, char **keys)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	int			capacity = 64;
	int			n = 0;
	SpannChainWalk walk;
	Page		page;

	*rows = palloc(sizeof(SpannRow) * capacity);
	*keys = palloc0(info->entry_keysize * capacity);
	SpannChainBegin(&walk, index, head, SPANN_PAGE_POSTING);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			SpannEntryTuple e = SpannPageGetEntry(index, walk.blkno, page, off);

			char	   *key;

			if (n == capacity)
			{
				capacity *= 2;
				*rows = repalloc(*rows, sizeof(SpannRow) * capacity);
				*keys = repalloc_huge(*keys, info->entry_keysize * capacity);
				memset(*keys + info->entry_keysize * n, 0, info->entry_keysize * (capacity - n));
			}
			key = *keys + info->entry_keysize * n;
			(*rows)[n].heaptid = e->heaptid;
			(*rows)[n].vector = e->vector;
			if (!SpannEntryKey(index, e, key))
				AnnCheckFailed(index, walk.blkno, off, "An entry's vector tuple holds another row.");
			if (info->signature_size > 0)
				memcpy(key + info->filter_offset, SpannEntrySignatures(info, e), info->signature_size);
			n++;
		}
		CHECK_FOR_INTERRUPTS();
	}
	return n;
}

/*
 * Write a new posting chain holding entries order[0..n) of rows/keys,
 * coded for a list whose rotated centroid is centroid, last page first,
 * so each page is complete (its link included) when it is logged: one
 * full-image record per page.  The chain is reachable from nowhere until
 * the caller links it.  Returns its head; *tail gets its last page.  No
 * entries still makes one empty page.
 */
BlockNumber
SpannWriteChain(Relation index, const SpannRow *rows, const char *keys,
				const int *order, int n, const float *centroid, BlockNumber *tail)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		size = info->entry_size;
	int			per_page = SPANN_ENTRIES_PER_PAGE(size);
	int			npages = Max(1, (n + per_page - 1) / per_page);
	BlockNumber next = InvalidBlockNumber;

	for (int p = npages - 1; p >= 0; p--)
	{
		AnnEdit		edit;
		Page		page;
		Buffer		buffer;

		AnnEditBegin(&edit, index, false);
		buffer = SpannNewPostingPage(&edit, index, &page);
		AnnPageGetOpaque(page)->nextblkno = next;
		for (int i = p * per_page; i < Min(n, (p + 1) * per_page); i++)
		{
			const char *key = keys + info->entry_keysize * order[i];
			float	   *rotated = SpannRotate(info, SpannKeyElements(key));
			SpannEntryTuple entry = SpannMakeEntry(info, &rows[order[i]], key, rotated, centroid);

			if (PageAddItem(page, (Item) entry, size, InvalidOffsetNumber, false, false) ==
				InvalidOffsetNumber)
				elog(ERROR, "failed to add entry to spann index \"%s\"",
					 RelationGetRelationName(index));
			pfree(entry);
			pfree(rotated);
		}
		if (p == npages - 1)
			*tail = BufferGetBlockNumber(buffer);
		next = BufferGetBlockNumber(buffer);
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
		CHECK_FOR_INTERRUPTS();
	}
	return next;
}

/* ---------------------------------------------------------------------
 * Reachable pages
 * ---------------------------------------------------------------------
 */

/* Mark the pages of the chain from blkno in reached (nblocks long) */
static void
mark_chain(Relation index, BlockNumber blkno, bool *reached, BlockNumber nblocks)
{
	SpannChainWalk walk;

	SpannChainBegin(&walk, index, blkno, SPANN_PAGE_CHAINED);
	while (BlockNumberIsValid(walk.next) && walk.next < nblocks && !reached[walk.next])
	{
		reached[walk.next] = true;
		SpannChainNext(&walk);
	}
	SpannChainEnd(&walk);
}

/*
 * Which of the first nblocks pages the index reaches: the metapage, the
 * group and centroid pages and the chain of every live list.  A palloc'd
 * array.
 */
bool *
SpannReachablePages(Relation index, BlockNumber nblocks)
{
	bool	   *reached = palloc0(sizeof(bool) * Max(nblocks, 1));
	int			npages;
	BlockNumber *pages = SpannCentroidPages(index, &npages);
	SpannListRef *lists;
	int			nlists;

	if (nblocks > ANN_METAPAGE_BLKNO)
		reached[ANN_METAPAGE_BLKNO] = true;
	for (int i = 0; i < npages; i++)
		if (pages[i] < nblocks)
			reached[pages[i]] = true;
	pfree(pages);
	lists = SpannAllLists(index, &nlists);
	for (int i = 0; i < nlists; i++)
	{
		mark_chain(index, lists[i].head, reached, nblocks);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(lists);
	return reached;
}

/*
 * Is page a posting page that nothing retired or freed, so that, when no
 * list reaches it, it is a leftover (of a split cut short by a crash, or
 * of a first list another backend created first)?
 */
bool
SpannIsUnretiredPosting(Page page)
{
	return !PageIsNew(page) && is_posting_page(page) &&
		!(AnnPageGetOpaque(page)->flags & SPANN_PAGE_RETIRED);
}

/*
 * The distance that list radii measure between two elements: Euclidean
 * (not squared) for L2 and the inner-product metrics, L1 for L1, Hamming
 * for Hamming.  All obey the triangle inequality, which is what
 * SpannLowerBound needs.
 */
float
SpannRadiusDistance(const SpannIndexInfo *info, const void *a, const void *b)
{
	int			n = info->dimensions;

	if (info->dist.metric == ANN_METRIC_L1 || info->dist.metric == ANN_METRIC_HAMMING)
		return AnnDistance(&info->dist, a, b, n);
	if (info->dist.keytype == ANN_KEY_HALFVEC)
		return sqrtf(ann_kernels->half_l2_squared(a, b, n));
	return sqrtf(ann_kernels->l2_squared(a, b, n));
}

/*
 * A lower bound of the query's distance (in the index's terms) to every
 * key within radius of a centroid at the given distance from the query:
 * the triangle inequality for L2, L1 and Hamming, and for the inner
 * products <q, x> <= <q, c> + |q| |x - c|.  A margin of SPANN_BOUND_MARGIN
 * of the terms' size covers the rounding of float kernels, so that the
 * bound never exceeds a distance the kernels compute for such a key;
 * Hamming distances are bit counts, exact in a float, and need none.
 */
float
SpannLowerBound(const SpannIndexInfo *info, const SpannNavigation *nav, float distance,
				float radius, const void *centroid)
{
	double		r = radius;
	double		gap;

	switch (info->dist.metric)
	{
		case ANN_METRIC_L2:
			{
				double		d = sqrt(Max(distance, 0.0));

				gap = d - r - SPANN_BOUND_MARGIN * (d + r);
				return gap > 0 ? (float) (gap * gap) : 0;
			}
		case ANN_METRIC_L1:
			gap = distance - r - SPANN_BOUND_MARGIN * (distance + r);
			return gap > 0 ? (float) gap : 0;
		case ANN_METRIC_HAMMING:
			return Max(distance - radius, 0.0f);
		default:
			{
				double		q = nav->query_norm;
				double		c = sqrt(Max(info->dist.kernel(centroid, centroid, info->dimensions), 0.0));

				return (float) (distance - q * r - SPANN_BOUND_MARGIN * q * (c + r));
			}
	}
}
