/*
 * anncheck.c
 *		ann_check_index(index, heapallindexed): the amcheck of our two
 *		access methods.
 *
 * The AM's checker (hnswcheck.c, spanncheck.c) reads every page it can
 * reach with share locks, one page at a time, and raises INDEX_CORRUPTED
 * naming the index, block and offset of the first problem; it collects the
 * heap TIDs the index holds.  With heapallindexed, every heap row visible
 * to a snapshot taken before the index was read, whose vector the index
 * would hold, must be among them.  Only AccessShareLock is taken on the
 * table and the index: the check runs beside inserts, VACUUM and queries,
 * and on a standby.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "anncheck.h"
#include "hnsw.h"
#include "spann.h"

/*
 * Raise INDEX_CORRUPTED for a problem found at (blkno, offno) of index
 * (offno InvalidOffsetNumber: the page as a whole)
 */
void
AnnCheckFailed(Relation index, BlockNumber blkno, OffsetNumber offno, const char *problem)
{
	if (offno == InvalidOffsetNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is corrupted at block %u",
						RelationGetRelationName(index), blkno),
				 errdetail_internal("%s", problem)));
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted at block %u, offset %u",
					RelationGetRelationName(index), blkno, offno),
			 errdetail_internal("%s", problem)));
}

/* Is the row at tid (the root of a HOT chain) visible to snapshot? */
bool
AnnHeapRowVisible(Relation heap, Snapshot snapshot, ItemPointer tid)
{
	IndexFetchTableData *fetch = table_index_fetch_begin(heap);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	ItemPointerData root = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		visible = table_index_fetch_tuple(fetch, &root, snapshot, slot, &call_again,
												  &all_dead);

	ExecDropSingleTupleTableSlot(slot);
	table_index_fetch_end(fetch);
	return visible;
}

/* heapallindexed: what the heap scan needs */
typedef struct HeapCheckState
{
	Relation	index;
	const AnnDistanceInfo *dist;
	AnnTidSet  *tids;
	ItemPointerData missing;	/* the first row not in the index */
} HeapCheckState;

/* A visible heap row: is it in the index, if the index would hold it? */
static void
heap_row_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				  bool tupleIsAlive, void *arg)
{
	HeapCheckState *state = (HeapCheckState *) arg;
	bool		usable;

	if (isnull[0] || ItemPointerIsValid(&state->missing))
		return;
	AnnPrepareKey(state->dist, values[0], &usable);
	if (usable && !AnnTidSetContains(state->tids, tid))
		state->missing = *tid;
}

/*
 * The first row of heap visible to snapshot that the index would hold
 * but does not (tids), or an invalid TID
 */
static ItemPointerData
first_row_not_indexed(Relation heap, Relation index, Snapshot snapshot,
					  const AnnDistanceInfo *dist, AnnTidSet *tids)
{
	IndexInfo  *indexInfo = BuildIndexInfo(index);
	TableScanDesc scan = table_beginscan_strat(heap, snapshot, 0, NULL, true, true);
	HeapCheckState state;

	state.index = index;
	state.dist = dist;
	state.tids = tids;
	ItemPointerSetInvalid(&state.missing);
	indexInfo->ii_Concurrent = true;	/* the scan's MVCC snapshot decides */
	table_index_build_scan(heap, index, indexInfo, true, false, heap_row_callback, &state, scan);
	return state.missing;
}

/*
 * Check index once, collecting its heap TIDs into a new set; returns the
 * set, and whether the index's structure changed while it was read (a
 * spann split or merge: a row may then have been missed in passing).
 */
static AnnTidSet *
check_structure(Relation heap, Relation index, Snapshot snapshot, const char *am, bool *changed)
{
	AnnTidSet  *tids = AnnTidSetCreate();

	*changed = false;
	if (strcmp(am, "hnsw") == 0)
		HnswCheckIndex(index, tids, heap, snapshot);
	else
		*changed = SpannCheckIndex(index, tids);
	return tids;
}

/* ann_check_index(index regclass, heapallindexed boolean default false) */
PG_FUNCTION_INFO_V1(ann_check_index);
Datum
ann_check_index(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	bool		heapallindexed = PG_GETARG_BOOL(1);
	Relation	heap;
	Relation	index = AnnOpenIndexToRead(indexoid, NULL, &heap);
	char	   *am = get_am_name(index->rd_rel->relam);
	Snapshot	snapshot;

	/* rows visible to this snapshot were indexed before the index is read */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	for (int attempt = 1;; attempt++)
	{
		bool		changed;
		AnnTidSet  *tids = check_structure(heap, index, snapshot, am, &changed);
		AnnDistanceInfo dist;
		ItemPointerData missing;

		if (!heapallindexed)
			break;
		AnnResolveDistance(index, &dist);
		missing = first_row_not_indexed(heap, index, snapshot, &dist, tids);
		if (!ItemPointerIsValid(&missing))
			break;
		if (!changed || attempt == 3)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" lacks the row (%u,%u) of table \"%s\"",
							RelationGetRelationName(index), ItemPointerGetBlockNumber(&missing),
							ItemPointerGetOffsetNumber(&missing), RelationGetRelationName(heap))));
	}
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	PG_RETURN_VOID();
}
