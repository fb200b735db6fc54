/*
 * spannvacuum.c
 *		VACUUM for spann: drop dead entries, merge lists that shrank,
 *		compact lists with wasted pages, and recycle retired pages.
 *
 * Bulk delete: under the split lock (exclusive: no split copies entries
 * while we look for dead ones), every page of every list, exclusively
 * locked in turn, loses the entries whose heap row is dead, and the
 * list's count drops by as many.  The first of its pages that now has
 * room becomes its fill page, where appends go first: the room VACUUM
 * made is used at once, by the list's own appends.
 *
 * Cleanup, under the split lock too (splits retire chains under it in
 * share mode):
 * 1. A retired page whose retiring transaction ID no snapshot can still
 *    precede (any retired page, when others_hold_snapshots says no)
 *    is flagged free and given to the free space map; AnnNewBuffer takes
 *    pages from there.
 * 2. A list with fewer live entries than the split limit / 8 (when there
 *    are other lists) is merged away: under its list lock (exclusive),
 *    each entry is inserted again among the other lists, then its
 *    centroid slot is freed and its pages retired.
 * 3. A list whose pages hold much less than they could is rewritten
 *    compactly into a new chain, switched in by one record, the old
 *    chain retired, as long as the pages step 1 found free hold the new
 *    chain: compactions do not grow the index (unless concurrent inserts
 *    take those pages first), and the pages they retire are free for the
 *    next VACUUM's.
 * The chains merges and compactions replaced are then freed at once when
 * no other backend holds a snapshot and no standby is connected, so no
 * scan can be reading them (others_hold_snapshots).
 *
 * README, "Vacuum", describes the states readers meet meanwhile.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

#include "spann.h"

/* ---------------------------------------------------------------------
 * Bulk delete
 * ---------------------------------------------------------------------
 */

/*
 * Remove the dead entries of one list; returns how many went, and sets
 * *room to the first of its pages that has room for an entry afterwards
 * (invalid if none has).
 */
static int
delete_in_list(IndexVacuumInfo *vinfo, const SpannListRef *list,
			   IndexBulkDeleteCallback callback, void *callback_state, double *live,
			   BlockNumber *room)
{
	Relation	index = vinfo->index;
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	BlockNumber blkno = list->head;
	AnnChainBound bound = AnnChainStart(*info->known_nblocks);
	int			removed = 0;

	*room = InvalidBlockNumber;

	while (BlockNumberIsValid(blkno))
	{
		Buffer		buffer = SpannReadChainPage(index, blkno, SPANN_PAGE_POSTING,
												BUFFER_LOCK_EXCLUSIVE, &bound,
												vinfo->strategy);
		Page		page = BufferGetPage(buffer);
		OffsetNumber dead[MaxOffsetNumber];
		int			ndead = 0;

		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			SpannEntryTuple e = SpannPageGetEntry(index, blkno, page, off);

			if (callback(&e->heaptid, callback_state))
				dead[ndead++] = off;
			else
				(*live)++;
		}
		if (ndead > 0)
		{
			AnnEdit		edit;

			AnnEditBegin(&edit, index, false);
			PageIndexMultiDelete(AnnEditRegister(&edit, buffer, false), dead, ndead);
			AnnEditFinish(&edit);
			removed += ndead;
		}
		if (!BlockNumberIsValid(*room) && PageGetFreeSpace(page) >= info->entry_size)
			*room = blkno;
		blkno = AnnPageGetOpaque(page)->nextblkno;
		UnlockReleaseBuffer(buffer);
		vacuum_delay_point();
	}
	return removed;
}

/*
 * Lower a list's count by removed, and make room (a page of its chain, if
 * valid) its fill page, so that appends take the room VACUUM made there
 * first.
 */
static void
uncount(Relation index, const SpannListRef *list, int removed, BlockNumber room)
{
	AnnEdit		edit;
	SpannCentroidTuple c;

	AnnEditBegin(&edit, index, false);
	c = SpannEditList(&edit, index, list, NULL);
	if (c != NULL)
	{
		c->count -= Min(c->count, (uint32) removed);
		if (BlockNumberIsValid(room))
			c->fill = room;
		AnnEditFinish(&edit);
	}
	else
		AnnEditAbort(&edit);
	AnnEditUnlockRelease(&edit);
}

IndexBulkDeleteResult *
spannbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	SpannListRef *lists;
	int			nlists;
	double		live = 0;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	SpannLock(index, SPANN_SPLIT_LOCK, ExclusiveLock);
	lists = SpannAllLists(index, &nlists);
	for (int i = 0; i < nlists; i++)
	{
		BlockNumber room;
		int			removed = delete_in_list(info, &lists[i], callback, callback_state,
											 &live, &room);

		if (removed > 0)
			uncount(index, &lists[i], removed, room);
		stats->tuples_removed += removed;
	}
	SpannDeleteDeadVectors(info, callback, callback_state);
	SpannUnlock(index, SPANN_SPLIT_LOCK, ExclusiveLock);
	/* entries, not rows: a vector counts once per list it is in */
	stats->num_index_tuples = live;
	stats->estimated_count = true;
	return stats;
}

/* ---------------------------------------------------------------------
 * Cleanup
 * ---------------------------------------------------------------------
 */

/* Pages and entries of a list, counted by walking it */
static void
measure_list(Relation index, BlockNumber head, int *pages, int *entries)
{
	SpannChainWalk walk;
	Page		page;

	*pages = *entries = 0;
	SpannChainBegin(&walk, index, head, SPANN_PAGE_POSTING);
	while ((page = SpannChainNext(&walk)) != NULL)
	{
		(*pages)++;
		*entries += PageGetMaxOffsetNumber(page);
	}
}

/*
 * Insert every entry of a list among the other lists, then free its
 * centroid slot.  The caller holds the list lock exclusively.
 */
static void
merge_away(Relation index, const SpannListRef *list)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannRow   *rows;
	char	   *keys;
	int			n = SpannReadList(index, list->head, &rows, &keys);
	SpannMetaPage meta;
	SpannCentroidTuple c;
	AnnEdit		edit;
	BlockNumber key_page = InvalidBlockNumber;

	for (int i = 0; i < n; i++)
	{
		SpannInsertKey(index, keys + info->entry_keysize * i, &rows[i], list->head);
		vacuum_delay_point();
	}

	AnnEditBegin(&edit, index, false);
	meta = SpannEditMeta(&edit, index);
	c = SpannEditLockedList(&edit, index, list);
	c->head = c->fill = InvalidBlockNumber;
	c->count = 0;
	if (info->long_keysize > 0)
		key_page = AnnLongKeyPage(c->key);
	meta->nlists--;
	meta->merges++;
	meta->directory_version++;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
	/* nobody reads the key of a free slot */
	if (BlockNumberIsValid(key_page))
		SpannFreeKeyPages(index, key_page);
}

/*
 * Rewrite a list into a compact new chain and switch it in.  The caller
 * holds the list lock exclusively.
 */
static void
compact_list(Relation index, const SpannListRef *list)
{
	SpannRow   *rows;
	char	   *keys;
	int			n = SpannReadList(index, list->head, &rows, &keys);
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	float	   *centroid = SpannRotatedCentroid(index, list);
	BlockNumber head,
				tail;
	SpannMetaPage meta;
	SpannCentroidTuple c;
	AnnEdit		edit;

	for (int i = 0; i < n; i++)
		order[i] = i;
	head = SpannWriteChain(index, rows, keys, order, n, centroid, &tail);
	AnnEditBegin(&edit, index, false);
	meta = SpannEditMeta(&edit, index);
	meta->directory_version++;
	c = SpannEditLockedList(&edit, index, list);
	c->head = head;
	c->fill = tail;
	c->count = n;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
}

/* Is a walsender (a standby, or a client of logical decoding) connected? */
static bool
walsender_connected(void)
{
	for (int i = 0; WalSndCtl != NULL && i < max_wal_senders; i++)
	{
		WalSnd	   *walsnd = &WalSndCtl->walsnds[i];
		pid_t		pid;

		SpinLockAcquire(&walsnd->mutex);
		pid = walsnd->pid;
		SpinLockRelease(&walsnd->mutex);
		if (pid != 0)
			return true;
	}
	return false;
}

/*
 * Might a scan still be reading a chain that the lists no longer reach?
 * Only one whose snapshot is older than the change: a scan reads the
 * directory after taking its snapshot, and a backend keeps an xmin while
 * it has one.  Lazy VACUUMs do not scan our lists.  A connected standby's
 * queries might too: the primary knows of them only through
 * hot_standby_feedback, so with one connected the answer is yes (a
 * replication slot keeps the feedback while its standby is away).
 */
static bool
others_hold_snapshots(void)
{
	TransactionId slot_xmin;
	TransactionId slot_catalog_xmin;
	int			n;

	ProcArrayGetReplicationSlotXmin(&slot_xmin, &slot_catalog_xmin);
	if (TransactionIdIsValid(slot_xmin) || walsender_connected())
		return true;
	pfree(GetCurrentVirtualXIDs(InvalidTransactionId, true, true, PROC_IN_VACUUM, &n));
	return n > 0;
}

/*
 * Merge or compact one list if it needs it; *nlists counts the lists
 * left.  A compaction takes the free pages its chain needs, when
 * *free_pages (which it lowers) covers them: the index does not grow for
 * one, unless other writers took those pages meanwhile.  A replaced
 * chain is retired at once (an error later in VACUUM must not leave it
 * unretired, which the next one's sweep for unreachable pages would free
 * whatever the snapshots); returns true if it was.
 */
static bool
tidy_list(Relation index, const SpannListRef *list, uint32 limit, uint32 *nlists,
		  BlockNumber *free_pages)
{
	int			per_page = SPANN_ENTRIES_PER_PAGE(SpannGetIndexInfo(index)->entry_size);
	int			pages;
	int			entries;
	int			compact_pages;
	bool		merge;
	bool		compact;

	measure_list(index, list->head, &pages, &entries);
	compact_pages = (entries + per_page - 1) / per_page;
	merge = *nlists > 1 && (uint32) entries < limit / SPANN_MERGE_DIVISOR;
	compact = pages > 1 && pages > compact_pages * 5 / 4 + 1 &&
		Max(compact_pages, 1) <= *free_pages;
	if (!merge && !compact)
		return false;

	SpannLock(index, list->head, ExclusiveLock);
	if (merge)
	{
		merge_away(index, list);
		(*nlists)--;
	}
	else
	{
		compact_list(index, list);
		*free_pages -= Max(compact_pages, 1);
	}
	SpannUnlock(index, list->head, ExclusiveLock);
	SpannRetireChain(index, list->head);
	return true;
}

/*
 * Free the posting pages no list reaches that were neither retired nor
 * freed: what a split cut short by a crash left (README, "WAL and crash
 * states"), or the chain of a first list that lost its race.  The caller
 * holds the split lock exclusively, so no split or first list is writing
 * a chain that nothing points at yet.  Inserts may meanwhile link new
 * pages to lists walked already: those pages are newer than the sweep's
 * start, so pages written since (by their LSN) are left alone.  Unlogged
 * and temporary indexes start empty after a crash and have no LSNs to go
 * by: they are not swept.  Returns how many pages it freed (and gave to
 * the free space map).
 */
static BlockNumber
free_unreachable(IndexVacuumInfo *vinfo)
{
	Relation	index = vinfo->index;
	XLogRecPtr	start;
	BlockNumber nblocks;
	BlockNumber nfreed = 0;
	bool	   *reached;

	if (!RelationNeedsWAL(index))
		return 0;
	start = GetXLogInsertRecPtr();
	nblocks = RelationGetNumberOfBlocks(index);
	reached = SpannReachablePages(index, nblocks);
	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer;
		Page		page;
		bool		freed = false;

		if (reached[blkno])
			continue;
		buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, vinfo->strategy);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buffer);
		if (SpannIsUnretiredPosting(page) && PageGetLSN(page) < start)
		{
			AnnEdit		edit;

			AnnEditBegin(&edit, index, false);
			AnnPageGetOpaque(AnnEditRegister(&edit, buffer, false))->flags = ANN_PAGE_FREE;
			AnnEditFinish(&edit);
			freed = true;
		}
		UnlockReleaseBuffer(buffer);
		/* once unlocked: a writer the map gives it to must get its lock */
		if (freed)
		{
			RecordFreeIndexPage(index, blkno);
			nfreed++;
		}
		vacuum_delay_point();
	}
	pfree(reached);
	return nfreed;
}

/*
 * Free every retired page no snapshot can still be reading (any, when no
 * other backend holds one), and give all free pages to the free space
 * map.  Returns how many pages are free.  The caller holds the split lock
 * exclusively, so that no chain is retired after the look at snapshots.
 */
static BlockNumber
recycle_pages(IndexVacuumInfo *vinfo)
{
	Relation	index = vinfo->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber nfree = 0;
	bool		unseen = !others_hold_snapshots();

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
												vinfo->strategy);
		Page		page;
		AnnPageOpaque opaque = NULL;
		bool		is_free;

		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buffer);
		/* a page a crash left zeroed (extended, never logged) has no special space */
		if (!PageIsNew(page))
			opaque = AnnPageGetOpaque(page);
		if (opaque != NULL && (opaque->flags & SPANN_PAGE_RETIRED) &&
			(unseen || GlobalVisCheckRemovableXid(NULL, ((PageHeader) page)->pd_prune_xid)))
		{
			AnnEdit		edit;

			AnnEditBegin(&edit, index, false);
			AnnPageGetOpaque(AnnEditRegister(&edit, buffer, false))->flags = ANN_PAGE_FREE;
			AnnEditFinish(&edit);
		}
		is_free = opaque == NULL || (opaque->flags & ANN_PAGE_FREE);
		UnlockReleaseBuffer(buffer);
		if (is_free)
		{
			RecordFreeIndexPage(index, blkno);
			nfree++;
		}
		vacuum_delay_point();
	}
	IndexFreeSpaceMapVacuum(index);
	return nfree;
}

IndexBulkDeleteResult *
spannvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	SpannMetaPageData meta;
	SpannListRef *lists;
	int			nlists;
	uint32		limit;
	BlockNumber free_pages;
	BlockNumber *replaced;
	int			nreplaced = 0;

	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_index_tuples = info->num_heap_tuples;
		stats->estimated_count = info->estimated_count;
	}

	/*
	 * What earlier VACUUMs and splits retired, compactions now rewrite
	 * lists into.  No split retires a chain meanwhile: a chain retired
	 * after recycle_pages found no snapshot could still have a reader.
	 */
	SpannLock(index, SPANN_SPLIT_LOCK, ExclusiveLock);
	free_pages = recycle_pages(info);
	SpannReadMeta(index, &meta);
	/* an index that sizes its lists as it grows: as for the table's rows */
	limit = meta.list_limit > 0 ? meta.list_limit :
		SpannLimitForEntries(index, Max(info->num_heap_tuples, 0));
	lists = SpannAllLists(index, &nlists);
	replaced = palloc(sizeof(BlockNumber) * Max(nlists, 1));
	for (int i = 0; i < nlists; i++)
		if (tidy_list(index, &lists[i], limit, &meta.nlists, &free_pages))
			replaced[nreplaced++] = lists[i].head;
	/* when no scan can be reading them, the old chains are free at once */
	if (nreplaced > 0 && !others_hold_snapshots())
		for (int i = 0; i < nreplaced; i++)
			free_pages += SpannFreeChain(index, replaced[i]);
	free_pages += free_unreachable(info);
	SpannUnlock(index, SPANN_SPLIT_LOCK, ExclusiveLock);
	IndexFreeSpaceMapVacuum(index);

	/* about: merges may have taken free pages too */
	stats->pages_free = free_pages;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}
