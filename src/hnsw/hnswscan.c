/*
 * hnswscan.c
 *		Ordered index scans: ORDER BY key <op> query LIMIT k.
 *
 * The first amgettuple call runs the search: greedy descent from the
 * entry point to layer 1, then a search of layer 0 keeping the
 * hnsw.ef_search nearest elements.  Results come out nearest first, each
 * element's heap TIDs in turn; the distance order is exact for what the
 * search found, so the executor need not recheck it.
 *
 * Locking: share buffer locks, one page at a time (hnswutils.c).  Heap
 * TIDs are copied when their element is returned; a row that VACUUM
 * removes meanwhile was dead to our MVCC snapshot anyway.
 */
#include "postgres.h"

#include "access/relscan.h"
#include "pgstat.h"
#include "utils/memutils.h"

#include "hnsw.h"

typedef struct HnswScanOpaqueData
{
	const HnswIndexInfo *info;
	MemoryContext search_cxt;	/* reset by each rescan */
	bool		searched;
	HnswDiskGraph graph;
	HnswSearch	search;
	HnswCandidate *results;		/* nearest first */
	int			nresults;
	int			next_result;
	ItemPointerData tids[HNSW_HEAPTIDS];	/* heap TIDs of the current result */
	int			ntids;
	int			next_tid;
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

IndexScanDesc
hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->info = HnswGetIndexInfo(index);
	so->search_cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw scan context",
										   ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

void
hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (so->searched)
		HnswDiskGraphRelease(&so->graph);
	MemoryContextReset(so->search_cxt);
	so->searched = false;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/*
 * The query as a prepared key.  A NULL query orders nothing: search from
 * a zero vector, which returns rows in some order, as a sequential scan
 * sorting NULL distances would.
 */
static Datum
query_key(IndexScanDesc scan, HnswScanOpaque so)
{
	const AnnDistanceInfo *dist = &so->info->dist;
	bool		usable;
	int			dim;
	Datum		key;

	if (scan->numberOfOrderBys == 0 || (scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		if (dist->half)
			return PointerGetDatum(InitHalfVector(so->info->dimensions));
		return PointerGetDatum(InitVector(so->info->dimensions));
	}
	key = AnnPrepareKey(dist, scan->orderByData[0].sk_argument, &usable);
	AnnKeyElements(dist, key, &dim);
	HnswCheckDimensions(so->info, dim);
	return key;
}

static void
run_search(IndexScanDesc scan, HnswScanOpaque so)
{
	HnswMetaPageData meta;
	Datum		key = query_key(scan, so);
	int			dim;
	HnswRef		entry;

	so->nresults = 0;
	so->next_result = 0;
	so->ntids = 0;
	so->next_tid = 0;
	HnswReadMeta(scan->indexRelation, &meta);
	if (!ItemPointerIsValid(&meta.entry))
		return;

	HnswDiskGraphInit(&so->graph, scan->indexRelation, false);
	HnswDiskGraphReset(&so->graph, AnnKeyElements(&so->info->dist, key, &dim));
	HnswSearchInit(&so->search, &hnsw_disk_graph_ops, &so->graph, so->info->m);
	entry = HnswTidToRef(&meta.entry);
	if (!HnswSearchStart(&so->search, entry, meta.entry_level))
		return;
	for (int layer = meta.entry_level; layer > 0; layer--)
	{
		HnswSearchLayer(&so->search, 1, layer);
		HnswSearchRestart(&so->search, layer - 1);
	}
	HnswSearchLayer(&so->search, hnsw_ef_search, 0);
	so->results = palloc(sizeof(HnswCandidate) * Max(so->search.results.count, 1));
	so->nresults = HnswSortedResults(&so->search, so->results);
}

bool
hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (!so->searched)
	{
		MemoryContext old = MemoryContextSwitchTo(so->search_cxt);

		so->searched = true;
		run_search(scan, so);
		MemoryContextSwitchTo(old);
		pgstat_count_index_scan(scan->indexRelation);
	}

	while (so->next_tid >= so->ntids)
	{
		if (so->next_result >= so->nresults)
			return false;
		so->ntids = HnswDiskGraphHeapTids(&so->graph, so->results[so->next_result++].ref,
										  so->tids);
		so->next_tid = 0;
	}
	scan->xs_heaptid = so->tids[so->next_tid++];
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;
	return true;
}

void
hnswendscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (so->searched)
		HnswDiskGraphRelease(&so->graph);
	MemoryContextDelete(so->search_cxt);
	pfree(so);
	scan->opaque = NULL;
}
