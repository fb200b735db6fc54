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
 * When the executor wants more (a WHERE clause dropped rows, or LIMIT is
 * above ef_search), an iterative scan (hnsw.iterative_scan) carries on
 * from the layer-0 frontier: it returns the nearest element found so far
 * while it is no farther than the frontier's nearest, else expands the
 * frontier.  strict_order never returns an element nearer than one
 * already returned (such late finds are skipped); relaxed_order returns
 * them anyway.  hnsw.max_scan_tuples and work_mem times
 * hnsw.scan_mem_multiplier bound the extra work.
 *
 * Locking: share buffer locks, one page at a time (hnswutils.c).  Heap
 * TIDs are copied when their element is returned; a row that VACUUM
 * removes meanwhile was dead to our MVCC snapshot anyway.
 */
#include "postgres.h"

#include <math.h>

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
	AnnFilter  *filter;			/* conditions on filter columns, or NULL */
	HnswSearch	search;			/* its frontier is what an iterative scan expands */
	HnswHeap	pending;		/* found and not returned yet, nearest on top */
	int			iterative;		/* hnsw.iterative_scan when the scan began */
	bool		expanding;		/* the frontier may still be expanded */
	bool		merged_discarded;	/* the first search's leftovers are pending */
	int64		visited_after;	/* elements met past the first search */
	bool		returned_any;
	float		last_distance;	/* of the last element returned */
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
	AnnCheckDimensions(so->info->dimensions, dim);
	return key;
}

/*
 * Under a filter, the exact answer from the matching elements the
 * directory listed: all of it is pending, and nothing is left to expand.
 */
static void
exact_search(HnswScanOpaque so, const HnswRef *matches, int nmatches)
{
	so->pending.count = 0;
	HnswExactSearch(&so->graph, matches, nmatches, &so->pending);
	so->expanding = false;
	so->merged_discarded = true;
}

/*
 * Under a filter, the number of elements that match it, from the
 * directory (-1 without a filter or directory).  A graph search meets
 * about ef_search * entries / matches elements to find ef_search matches
 * when the filter ignores the query; the exact search meets the matches.
 * So up to *few = sqrt(ef_search * entries) matches the exact search is
 * the cheaper: the directory is read until the matches pass *few (the
 * number is then an estimate, above *few), or whole, and then *matches
 * lists them.
 */
static double
count_matches(IndexScanDesc scan, HnswScanOpaque so, const HnswMetaPageData *meta, int64 *few,
			  HnswRef **matches, int *nmatches)
{
	double		estimate;

	if (so->filter == NULL)
		return -1;
	*few = (int64) sqrt((double) hnsw_ef_search * meta->signature_count);
	if (!HnswMatchingElements(scan->indexRelation, so->filter, *few, matches, nmatches,
							  &estimate))
		return -1;
	return estimate;
}

static void
run_search(IndexScanDesc scan, HnswScanOpaque so)
{
	HnswMetaPageData meta;
	Datum		key = query_key(scan, so);
	int			dim;
	HnswRef    *matches = NULL;
	int			nmatches;
	int64		few = 0;
	double		estimate;

	so->iterative = hnsw_iterative_scan;
	so->expanding = false;
	so->visited_after = 0;
	so->returned_any = false;
	so->ntids = 0;
	so->next_tid = 0;
	HnswHeapInit(&so->pending, 64, false);
	so->filter = AnnFilterFromScanKeys(&so->info->filters, scan->keyData, scan->numberOfKeys);
	HnswReadMeta(scan->indexRelation, &meta);
	if (!ItemPointerIsValid(&meta.entry) || (so->filter != NULL && so->filter->impossible))
		return;

	HnswDiskGraphInit(&so->graph, scan->indexRelation, false);
	HnswDiskGraphReset(&so->graph, AnnKeyElements(&so->info->dist, key, &dim));
	so->graph.filter = so->filter;
	HnswSearchInit(&so->search, &hnsw_disk_graph_ops, &so->graph, so->info->m);

	estimate = count_matches(scan, so, &meta, &few, &matches, &nmatches);
	if (estimate >= 0 && estimate <= few)
	{
		exact_search(so, matches, nmatches);
		return;
	}
	if (!HnswSearchStart(&so->search, HnswTidToRef(&meta.entry), meta.entry_level))
		return;
	for (int layer = meta.entry_level; layer > 0; layer--)
	{
		HnswSearchLayer(&so->search, 1, layer);
		HnswSearchRestart(&so->search, layer - 1);
	}
	so->search.keep_discarded = so->iterative != HNSW_ITERATIVE_OFF;
	if (so->filter != NULL)
	{
		so->search.filtering = true;
		HnswSearchDropUnmatched(&so->search);
		if (estimate >= 0)
		{
			so->search.met = 0;
			so->search.budget = (int64) (estimate * HNSW_FILTER_GRAPH_SHARE);
		}
	}
	HnswSearchLayer(&so->search, hnsw_ef_search, 0);
	if (so->search.over_budget)
	{
		/* the directory was read only in part: read all of it now */
		HnswMatchingElements(scan->indexRelation, so->filter, -1, &matches, &nmatches, &estimate);
		exact_search(so, matches, nmatches);
		return;
	}
	so->search.budget = -1;

	while (so->search.results.count > 0)
	{
		HnswCandidate c = HnswHeapPop(&so->search.results);

		HnswHeapPush(&so->pending, c.ref, c.distance);
	}
	so->expanding = so->iterative != HNSW_ITERATIVE_OFF;
	so->merged_discarded = false;
}

/* Has the iterative part of the scan used up its budget? */
static bool
over_budget(HnswScanOpaque so)
{
	double		mem_limit = (double) work_mem * 1024.0 * hnsw_scan_mem_multiplier;

	return so->visited_after >= hnsw_max_scan_tuples ||
		(double) MemoryContextMemAllocated(so->search_cxt, true) > mem_limit;
}

/*
 * What the first search met but did not keep joins the pending elements,
 * once the scan needs more than the first results.  None of it is nearer
 * than those results, so it could wait; a LIMIT within ef_search never
 * pays for it.  Under a filter, what does not match goes back on the
 * frontier instead: the way to matching elements may lead through it.
 */
static void
merge_discarded(HnswScanOpaque so)
{
	HnswHeap   *discarded = &so->search.discarded;

	for (int i = 0; i < discarded->count; i++)
	{
		HnswCandidate *c = &discarded->items[i];

		if (hnsw_disk_graph_ops.matches(&so->graph, c->ref))
			HnswHeapPush(&so->pending, c->ref, c->distance);
		else
			HnswHeapPush(&so->search.candidates, c->ref, c->distance);
	}
	discarded->count = 0;
	so->merged_discarded = true;
}

/* One expansion of the frontier; stops expanding when done or over budget. */
static void
expand_frontier(HnswScanOpaque so)
{
	MemoryContext old = MemoryContextSwitchTo(so->search_cxt);
	int			met = HnswSearchExpand(&so->search, &so->pending);

	MemoryContextSwitchTo(old);
	if (met < 0)
		so->expanding = false;
	else
	{
		so->visited_after += met;
		so->expanding = !over_budget(so);
	}
}

/*
 * The next element to return, or false when the scan is over.  Pending
 * elements no farther than the frontier come first; otherwise the
 * frontier is expanded, while the budget lasts.
 */
static bool
next_element(HnswScanOpaque so, HnswCandidate *out)
{
	HnswHeap   *frontier = &so->search.candidates;

	for (;;)
	{
		if (so->pending.count > 0 &&
			(!so->expanding || frontier->count == 0 ||
			 so->pending.items[0].distance <= frontier->items[0].distance))
		{
			HnswCandidate c = HnswHeapPop(&so->pending);

			if (so->iterative == HNSW_ITERATIVE_STRICT && so->returned_any &&
				c.distance < so->last_distance)
				continue;		/* found too late to keep the order */
			so->returned_any = true;
			so->last_distance = c.distance;
			*out = c;
			return true;
		}
		if (!so->expanding)
			return false;
		if (!so->merged_discarded)
		{
			merge_discarded(so);
			continue;
		}
		expand_frontier(so);
		CHECK_FOR_INTERRUPTS();
	}
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
		HnswCandidate c;

		if (!next_element(so, &c))
			return false;
		so->ntids = HnswDiskGraphHeapTids(&so->graph, c.ref, so->tids);
		so->next_tid = 0;
	}
	scan->xs_heaptid = so->tids[so->next_tid++];
	scan->xs_recheck = so->filter != NULL;	/* signatures can collide */
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
