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
 * from the layer-0 frontier, and when the frontier runs out, it sweeps the
 * index for the elements the graph did not lead to, so that a scan asked
 * for every row returns every row.  relaxed_order returns the nearest
 * element found so far while it is no farther than the frontier's
 * nearest, else expands the frontier.  strict_order holds elements back
 * longer, until the ef_search nearest found are all nearer than the
 * frontier (the condition on which the first search stopped), so that an
 * element the frontier reaches later is rarely nearer than one already
 * returned; if one is, its place in the order has passed: it is held
 * back and returned after all others, with a report (AnnReportScan).
 * hnsw.max_scan_tuples and work_mem times hnsw.scan_mem_multiplier bound
 * the extra work; a scan that ends on a budget while the executor still
 * wants rows says so (AnnReportIncompleteScan).
 *
 * Locking: share buffer locks, one page at a time (hnswutils.c).  Heap
 * TIDs are copied when their element is returned; a row that VACUUM
 * removes meanwhile was dead to our MVCC snapshot anyway.
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "hnsw.h"

/*
 * Elements found and not returned yet.  near holds the nearest of them,
 * at most width, farthest on top; far holds the others, nearest on top.
 * Every element of near is no farther than any of far, and far is empty
 * unless near is full, so the nearest pending element is in near, and
 * near's top is the width-th nearest when near is full.
 */
typedef struct HnswPending
{
	HnswHeap	near;
	HnswHeap	far;
	int			width;
} HnswPending;

/* Why an iterative scan stopped expanding before the graph ran out */
typedef enum HnswScanStop
{
	HNSW_STOP_NONE,
	HNSW_STOP_TUPLES,			/* hnsw.max_scan_tuples */
	HNSW_STOP_MEMORY			/* work_mem * hnsw.scan_mem_multiplier */
} HnswScanStop;

typedef struct HnswScanOpaqueData
{
	const HnswIndexInfo *info;
	MemoryContext search_cxt;	/* reset by each rescan */
	HnswTieTable *tie_table;	/* kept across rescans: made on first use */
	bool		searched;
	HnswDiskGraph graph;
	HnswScanGraph scan_graph;	/* graph, as the search sees it */
	AnnFilter  *filter;			/* conditions on filter columns, or NULL */
	HnswSearch	search;			/* its frontier is what an iterative scan expands */
	HnswPending pending;
	HnswHeap	fresh;			/* found by one expansion, then pending */
	bool		coded;			/* layer 0 was searched with codes */
	HnswHeap	estimated;		/* met by that search, not expanded, distance
								 * known only from codes: by bound, least on top */
	int			iterative;		/* hnsw.iterative_scan when the scan began */
	bool		expanding;		/* the frontier may still be expanded */
	bool		merged_discarded;	/* the first search's leftovers are pending */
	int			first_left;		/* results of the first search not returned */
	int64		visited_after;	/* elements met past the first search */
	double		sweep_after;	/* strict_order: sweep once this many are met */
	HnswScanStop stop;			/* the budget that stopped expansion */
	bool		swept_short;	/* the sweep kept fewer elements than it found */
	float		sweep_cut;		/* then, the farthest it kept */
	HnswHeap	late;			/* strict_order: found too late, returned last */
	bool		returning_late; /* the others are all returned */
	bool		reported;		/* the scan said it ended short */
	bool		returned_any;
	bool		unordered;		/* the query orders nothing (zero, under cosine) */
	float		last_distance;	/* of the last element returned */
	ItemPointerData tids[HNSW_HEAPTIDS];	/* heap TIDs of the current result */
	int			ntids;
	int			next_tid;
	float		tids_distance;	/* its distance */
	double		order_slack;	/* AnnOrderSlack */
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

static void
pending_init(HnswPending *pending, int width)
{
	HnswHeapInit(&pending->near, Max(width, 1), true);
	HnswHeapInit(&pending->far, 64, false);
	pending->width = width;
}

static void
pending_push(HnswPending *pending, HnswRef ref, float distance)
{
	HnswHeap   *near = &pending->near;

	if (near->count < pending->width)
		HnswHeapPush(near, ref, distance);
	else if (distance < near->items[0].distance)
	{
		HnswCandidate farthest = HnswHeapPop(near);

		HnswHeapPush(&pending->far, farthest.ref, farthest.distance);
		HnswHeapPush(near, ref, distance);
	}
	else
		HnswHeapPush(&pending->far, ref, distance);
}

/* Move every element of heap (emptied) to the pending ones. */
static void
pending_take(HnswPending *pending, HnswHeap *heap)
{
	for (int i = 0; i < heap->count; i++)
		pending_push(pending, heap->items[i].ref, heap->items[i].distance);
	heap->count = 0;
}

/* Where in near the nearest pending element is; near must not be empty */
static int
pending_nearest(const HnswPending *pending)
{
	const HnswHeap *near = &pending->near;
	int			best = 0;

	for (int i = 1; i < near->count; i++)
		if (HnswCompareCandidates(&near->items[i], &near->items[best]) < 0)
			best = i;
	return best;
}

static HnswCandidate
pending_pop(HnswPending *pending)
{
	HnswCandidate nearest = HnswHeapRemove(&pending->near, pending_nearest(pending));

	if (pending->far.count > 0)
	{
		HnswCandidate next = HnswHeapPop(&pending->far);

		HnswHeapPush(&pending->near, next.ref, next.distance);
	}
	return nearest;
}

IndexScanDesc
hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->info = HnswGetIndexInfo(index);
	so->order_slack = AnnOrderSlack(&so->info->dist, so->info->dimensions);
	AnnInitOrderBy(scan);
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
 * sorting NULL distances would.  Nor does a zero vector under cosine,
 * whose <=> is NaN for every row.  Either way no row is late
 * (so->unordered).
 */
static Datum
query_key(IndexScanDesc scan, HnswScanOpaque so)
{
	const AnnDistanceInfo *dist = &so->info->dist;
	bool		usable;
	int			dim;
	Datum		key;

	so->unordered = true;
	if (scan->numberOfOrderBys == 0 || (scan->orderByData[0].sk_flags & SK_ISNULL))
		return AnnZeroKey(dist, so->info->dimensions);
	key = AnnPrepareKey(dist, scan->orderByData[0].sk_argument, &usable);
	so->unordered = !usable;
	AnnKeyElements(dist, key, &dim);
	AnnCheckQueryDimensions(dist, so->info->dimensions, dim);
	return key;
}

/*
 * Under a filter, the exact answer from the matching elements the
 * directory listed: all of it is pending, and nothing is left to expand.
 */
static void
exact_search(HnswScanOpaque so, const HnswRef *matches, int nmatches)
{
	HnswExactSearch(&so->graph, matches, nmatches, &so->fresh, true);
	pending_take(&so->pending, &so->fresh);
	so->first_left = 0;
	so->expanding = false;
	so->merged_discarded = true;
}

/*
 * Under a filter, the number of elements that match it, from the
 * directory (-1 without a filter or directory).  A graph search meets
 * about ef_search * entries / matches elements to find ef_search matches
 * when the filter ignores the query; the exact search meets the matches.
 * So up to *few = sqrt(ef_search * entries) matches the exact search is
 * the cheaper: the directory is read until the matches clearly pass *few
 * (the number is then an estimate, above *few), or whole, and then
 * *matches lists them.
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

/*
 * How many elements a strict_order scan meets past the first search before
 * it sweeps the index: none when the index holds no more elements than
 * hnsw.max_scan_tuples lets the scan visit (the sweep costs no more than
 * the budget allows), else an eighth of them (by the index's row count,
 * or its block count when that is not known yet), so that only deep scans
 * of large indexes pay for a sweep
 */
static double
sweep_threshold(Relation index)
{
	double		elements = index->rd_rel->reltuples;

	if (elements <= 0)
		elements = RelationGetNumberOfBlocks(index);
	if (elements <= hnsw_max_scan_tuples)
		return 0;
	return elements / HNSW_SWEEP_DIVISOR;
}

/* The bytes a scan may use: work_mem times hnsw.scan_mem_multiplier */
static double
scan_memory_limit(void)
{
	return (double) work_mem * 1024.0 * hnsw_scan_mem_multiplier;
}

/*
 * After a search with codes, what it met and did not expand (the frontier
 * and the elements it never put there) has estimated distances: it waits
 * in so->estimated, by the bound below which its distance is not, until
 * a row's turn depends on it (refine_estimates).
 */
static void
hold_estimates(HnswScanOpaque so)
{
	HnswHeap   *piles[] = {&so->search.candidates, &so->scan_graph.discarded,
	&so->scan_graph.evicted};

	for (int p = 0; p < lengthof(piles); p++)
	{
		for (int i = 0; i < piles[p]->count; i++)
			HnswHeapPush(&so->estimated, piles[p]->items[i].ref, piles[p]->items[i].bound);
		piles[p]->count = 0;
	}
}

/*
 * Every element waiting with an estimate whose bound is below limit gets
 * its exact distance: it joins the frontier (it was never expanded) and,
 * when it may be a result, the pending elements.  After this no waiting
 * element is nearer than limit (almost surely, as codes' bounds go).
 */
static void
refine_estimates(HnswScanOpaque so, float limit)
{
	HnswHeap   *estimated = &so->estimated;
	int			n = 0;
	HnswRef    *refs;

	if (!so->coded || estimated->count == 0 || estimated->items[0].distance >= limit)
		return;
	refs = palloc(sizeof(HnswRef) * estimated->count);
	while (estimated->count > 0 && estimated->items[0].distance < limit)
		refs[n++] = HnswHeapPop(estimated).ref;
	HnswExactSearch(&so->graph, refs, n, &so->fresh, false);
	for (int i = 0; i < so->fresh.count; i++)
	{
		HnswCandidate *c = &so->fresh.items[i];

		if (HnswDiskGraphMatches(&so->graph, c->ref))
			pending_push(&so->pending, c->ref, c->distance);
		HnswHeapPush(&so->search.candidates, c->ref, c->distance);
	}
	so->fresh.count = 0;
	pfree(refs);
}

/*
 * The results of a search with codes at their exact distances, read in
 * one batch (the element reads overlap); elements gone meanwhile leave.
 */
static void
rerank_results(HnswScanOpaque so)
{
	HnswHeap   *results = &so->search.results;
	int			n = results->count;
	HnswRef    *refs = palloc(sizeof(HnswRef) * Max(n, 1));

	for (int i = 0; i < n; i++)
		refs[i] = results->items[i].ref;
	results->count = 0;
	HnswExactSearch(&so->graph, refs, n, results, false);
	pfree(refs);
}

/* The search of layer 0, with codes when the scan uses them */
static void
search_layer0(HnswScanOpaque so)
{
	if (so->coded)
	{
		HnswSearchLayerCoded(&so->search, hnsw_ef_search);
		rerank_results(so);
	}
	else
		HnswSearchLayer(&so->search, hnsw_ef_search, 0);
}

/*
 * The filtered graph search met more elements than its budget: searching
 * the matching elements exactly costs less, when the list of them fits in
 * the scan's memory.  Else the graph search goes on, for as many more
 * elements as that memory holds, and the scan carries on from there.
 * Returns whether the exact search answered.
 */
static bool
search_over_budget(IndexScanDesc scan, HnswScanOpaque so)
{
	int64		fit = (int64) (scan_memory_limit() / HNSW_EXACT_MATCH_BYTES);
	HnswRef    *matches;
	int			nmatches;
	double		estimate;

	HnswMatchingElements(scan->indexRelation, so->filter, fit, &matches, &nmatches, &estimate);
	if (estimate <= fit)
	{
		exact_search(so, matches, nmatches);
		return true;
	}
	pfree(matches);
	HnswScanGraphSetBudget(&so->scan_graph, (int64) (scan_memory_limit() / HNSW_MET_BYTES));
	search_layer0(so);
	return false;
}

static void merge_discarded(HnswScanOpaque so);
static void sweep_unvisited(HnswScanOpaque so);

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
	bool		ran_out;

	so->iterative = hnsw_iterative_scan;
	so->expanding = false;
	so->first_left = 0;
	so->visited_after = 0;
	so->sweep_after = sweep_threshold(scan->indexRelation);
	so->swept_short = false;
	so->stop = HNSW_STOP_NONE;
	HnswHeapInit(&so->late, 16, false);
	so->returning_late = false;
	so->reported = false;
	so->returned_any = false;
	so->ntids = 0;
	so->next_tid = 0;
	pending_init(&so->pending, hnsw_ef_search);
	HnswHeapInit(&so->fresh, 64, false);
	HnswHeapInit(&so->estimated, 16, false);
	so->filter = AnnFilterFromScanKeys(&so->info->filters, scan->keyData, scan->numberOfKeys);
	HnswReadMeta(scan->indexRelation, &meta);
	if (!ItemPointerIsValid(&meta.entry) || (so->filter != NULL && so->filter->impossible))
		return;

	HnswDiskGraphInit(&so->graph, scan->indexRelation, false);
	HnswDiskGraphReset(&so->graph, AnnKeyElements(&so->info->dist, key, &dim));
	so->graph.filter = so->filter;
	so->coded = so->info->codes != NULL && hnsw_quantized_search;
	if (so->coded)
		so->graph.code_query = HnswCodeQueryCreate(so->info, so->graph.query);
	HnswScanGraphInit(&so->scan_graph, &so->graph);
	HnswSearchInit(&so->search, &hnsw_scan_graph_ops, &so->scan_graph, so->info->m);
	/* made in the scan's context, which outlives the rescans */
	HnswSearchCountTiesOnce(&so->search, so->info, &so->tie_table, GetMemoryChunkContext(so));

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
	so->scan_graph.keep_leftovers = so->iterative != HNSW_ITERATIVE_OFF;
	/* with codes, the entry points become results when expanded */
	if (so->coded)
		so->search.results.count = 0;
	if (so->filter != NULL)
	{
		so->scan_graph.filtering = true;
		HnswSearchDropNonResults(&so->search);
		if (estimate >= 0)
			HnswScanGraphSetBudget(&so->scan_graph, (int64) (estimate * HNSW_FILTER_GRAPH_SHARE));
	}
	search_layer0(so);
	/*
	 * Over budget, the search would cost more to finish than the exact
	 * search.  It may have ef_search matches by then, but its frontier can
	 * still improve them: taken as they are, they were the nearest of a
	 * search cut short (a filter matching 28% of 2,000 random rows: 0.57 of
	 * the 10 nearest, at any ef_search up to 100).
	 */
	if (so->scan_graph.over_budget && search_over_budget(scan, so))
		return;
	HnswScanGraphSetBudget(&so->scan_graph, -1);

	ran_out = so->search.candidates.count == 0 &&
		!HnswSearchResultsFull(&so->search, hnsw_ef_search);
	so->first_left = so->search.results.count;
	pending_take(&so->pending, &so->search.results);
	if (so->coded && so->scan_graph.keep_leftovers)
		hold_estimates(so);
	so->expanding = so->iterative != HNSW_ITERATIVE_OFF;
	so->merged_discarded = false;
	/*
	 * The graph ran out before the search found hnsw.ef_search elements:
	 * every element it leads to has been met, and any other (no link
	 * leads to it: inserts of data full of equal distances can leave a
	 * few so) would only be found after every row had been returned.  An
	 * iterative scan reads the whole index for them now, and returns its
	 * rows in order from all it holds.
	 */
	if (ran_out && so->expanding)
	{
		merge_discarded(so);
		so->expanding = false;
		sweep_unvisited(so);
	}
}

/* Which budget, if any, the iterative part of the scan has used up */
static HnswScanStop
over_budget(HnswScanOpaque so)
{
	if (so->visited_after >= hnsw_max_scan_tuples)
		return HNSW_STOP_TUPLES;
	if ((double) MemoryContextMemAllocated(so->search_cxt, true) > scan_memory_limit())
		return HNSW_STOP_MEMORY;
	return HNSW_STOP_NONE;
}

/*
 * What the first search met but did not keep joins the pending elements,
 * once the scan needs more than the first results.  None of it is nearer
 * than those results, so it could wait; a LIMIT within ef_search never
 * pays for it.  Elements the search never put on the frontier go there
 * now (the way to further elements may lead through them); under a
 * filter, those that do not match go only there.
 */
static void
merge_discarded(HnswScanOpaque so)
{
	HnswHeap   *discarded = &so->scan_graph.discarded;

	for (int i = 0; i < discarded->count; i++)
	{
		HnswCandidate *c = &discarded->items[i];

		if (HnswDiskGraphMatches(&so->graph, c->ref))
			pending_push(&so->pending, c->ref, c->distance);
		HnswHeapPush(&so->search.candidates, c->ref, c->distance);
	}
	discarded->count = 0;
	pending_take(&so->pending, &so->scan_graph.evicted);
	so->merged_discarded = true;
}

/*
 * How many elements a sweep may keep: as many as the scan's memory has
 * room for (each costs a candidate in the sweep's heap and one in the
 * pending ones, heaps that may be twice their size), and at least
 * hnsw.ef_search.
 */
static int
sweep_room(HnswScanOpaque so)
{
	double		left = scan_memory_limit() - (double) MemoryContextMemAllocated(so->search_cxt, true);
	double		room = left / (4 * sizeof(HnswCandidate));

	return (int) Min(Max(room, (double) hnsw_ef_search), (double) (INT_MAX / 4));
}

/*
 * The frontier has run out, or a strict_order scan has met enough of the
 * index (sweep_threshold): the elements the graph did not lead to (links
 * lost to concurrent changes or VACUUM, a graph in pieces, or simply not
 * met yet) are found by reading the whole index and join the pending
 * elements, as many of the nearest as the scan's memory holds.  If there
 * were more, the scan ends with the farthest kept (sweep_cut): one left
 * out may be nearer than any pending element past it.
 */
static void
sweep_unvisited(HnswScanOpaque so)
{
	HnswHeap	swept;

	refine_estimates(so, get_float4_infinity());
	HnswHeapInit(&swept, 64, true);
	if (HnswSweepUnvisited(&so->graph, sweep_room(so), &swept) > 0)
	{
		so->swept_short = true;
		so->sweep_cut = swept.count > 0 ? swept.items[0].distance : -get_float4_infinity();
		so->stop = HNSW_STOP_MEMORY;
	}
	pending_take(&so->pending, &swept);
	pfree(swept.items);
}

/*
 * One expansion of the frontier; stops expanding when done or over budget.
 * A strict_order scan that has met enough elements (sweep_threshold)
 * sweeps the index instead: with every element pending, the rest comes
 * out in exact order and no late find can cut the answer short, and the
 * sweep costs a small multiple of what the scan has spent, or of its
 * budget.
 */
static void
expand_frontier(HnswScanOpaque so)
{
	MemoryContext old = MemoryContextSwitchTo(so->search_cxt);
	HnswHeap   *frontier = &so->search.candidates;
	int			met;

	/* elements waiting with estimates go first where they may be nearer */
	refine_estimates(so, frontier->count > 0 ? frontier->items[0].distance :
					 get_float4_infinity());
	met = HnswSearchExpand(&so->search, &so->fresh);

	pending_take(&so->pending, &so->fresh);
	if (met < 0 || (so->iterative == HNSW_ITERATIVE_STRICT &&
					so->visited_after + met >= so->sweep_after))
	{
		so->expanding = false;
		sweep_unvisited(so);
	}
	else
	{
		so->visited_after += met;
		so->stop = over_budget(so);
		so->expanding = so->stop == HNSW_STOP_NONE;
		/* what the scan returns from now on comes from what it holds */
		if (!so->expanding)
			refine_estimates(so, get_float4_infinity());
	}
	MemoryContextSwitchTo(old);
}

/*
 * What the frontier's nearest must not be nearer than for the nearest
 * pending element to be returned: that element (relaxed_order), or the
 * width-th nearest pending one (strict_order; near must be full).
 */
static float
return_bound(HnswScanOpaque so)
{
	const HnswPending *pending = &so->pending;

	if (so->iterative == HNSW_ITERATIVE_STRICT)
		return pending->near.items[0].distance;
	return pending->near.items[pending_nearest(pending)].distance;
}

/*
 * May the nearest pending element be returned now?  The first search's
 * results may (it stopped when the frontier could not improve them), and
 * any once the frontier cannot be expanded (it ran out and the index was
 * swept, or a budget ran out).  Otherwise relaxed_order
 * wants it no farther than the frontier's nearest, and strict_order wants
 * that of the ef_search nearest pending elements: the first search's
 * stopping rule, applied again for every element returned.
 */
static bool
may_return(HnswScanOpaque so)
{
	const HnswPending *pending = &so->pending;
	const HnswHeap *frontier = &so->search.candidates;

	if (pending->near.count == 0)
		return false;
	if (so->first_left > 0 || !so->expanding)
	{
		/* strict_order: nothing held with an estimate may be nearer */
		if (so->iterative == HNSW_ITERATIVE_STRICT)
			refine_estimates(so, pending->near.items[pending_nearest(pending)].distance);
		return true;
	}
	if (so->iterative == HNSW_ITERATIVE_STRICT && pending->near.count < pending->width)
		return false;
	/* refining only adds pending elements: near stays full */
	refine_estimates(so, return_bound(so));
	if (frontier->count == 0)
		return false;			/* sweep the index first */
	return return_bound(so) <= frontier->items[0].distance;
}

/*
 * Once every other element is returned, the late ones, nearest first; the
 * first of them is reported (their order is not the query's).
 */
static bool
next_late(HnswScanOpaque so, HnswCandidate *out)
{
	if (so->late.count == 0)
		return false;
	if (!so->returning_late)
	{
		so->returning_late = true;
		AnnReportScan(so->graph.index, "returns rows found too late for their place in distance order",
					  psprintf("%d index elements (each one row, or up to %d with the same vector) were found after farther rows had been returned; strict_order returns their rows after all others, where those that pass the query's conditions are out of order.",
							   so->late.count, HNSW_HEAPTIDS),
					  "Raise hnsw.ef_search, or sort the rows again.");
	}
	*out = HnswHeapPop(&so->late);
	return true;
}

/*
 * The next element to return, or false when the scan is over.  Pending
 * elements come first when may_return allows; otherwise the frontier is
 * expanded, while the budget lasts.
 */
static bool
next_element(HnswScanOpaque so, HnswCandidate *out)
{
	for (;;)
	{
		if (may_return(so))
		{
			HnswCandidate c = pending_pop(&so->pending);

			if (so->swept_short && c.distance > so->sweep_cut)
			{
				/* a row the sweep had no room for may be nearer: no more */
				so->pending.near.count = so->pending.far.count = 0;
				continue;
			}
			if (so->first_left > 0)
				so->first_left--;
			if (so->iterative == HNSW_ITERATIVE_STRICT && so->returned_any && !so->unordered &&
				c.distance < so->last_distance)
			{
				/* found too late to keep the order: it comes last */
				HnswHeapPush(&so->late, c.ref, c.distance);
				continue;
			}
			so->returned_any = true;
			so->last_distance = c.distance;
			*out = c;
			return true;
		}
		if (so->pending.near.count == 0 && !so->expanding)
			return next_late(so, out);
		if (!so->merged_discarded)
			merge_discarded(so);
		else
			expand_frontier(so);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The scan has nothing more to return while the executor wants rows:
 * say so if it is because a budget ran out.
 */
static void
report_if_short(IndexScanDesc scan, HnswScanOpaque so)
{
	if (so->reported || so->iterative == HNSW_ITERATIVE_OFF)
		return;
	so->reported = true;
	if (so->stop == HNSW_STOP_TUPLES)
		AnnReportIncompleteScan(scan->indexRelation,
								psprintf("hnsw.max_scan_tuples (%d) elements were visited.",
										 hnsw_max_scan_tuples),
								"Raise hnsw.max_scan_tuples.");
	else if (so->stop == HNSW_STOP_MEMORY)
		AnnReportIncompleteScan(scan->indexRelation,
								"The scan's memory reached work_mem times hnsw.scan_mem_multiplier.",
								"Raise work_mem or hnsw.scan_mem_multiplier.");
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
		{
			report_if_short(scan, so);
			return false;
		}
		so->ntids = HnswDiskGraphHeapTids(&so->graph, c.ref, so->tids);
		so->next_tid = 0;
		so->tids_distance = c.distance;
	}
	scan->xs_heaptid = so->tids[so->next_tid++];
	scan->xs_recheck = so->filter != NULL;	/* signatures can collide */
	AnnSetOrderBy(scan, &so->info->dist, so->order_slack, so->tids_distance);
	return true;
}

void
hnswendscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (so->searched)
		HnswDiskGraphRelease(&so->graph);
	MemoryContextDelete(so->search_cxt);
	if (so->tie_table != NULL)
		pfree(so->tie_table);
	pfree(so);
	scan->opaque = NULL;
}
