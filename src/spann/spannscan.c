/*
 * spannscan.c
 *		Ordered index scans: ORDER BY key <op> query LIMIT k.
 *
 * The first amgettuple call computes the query's distance to every group
 * of centroids and opens the spann.group_probes nearest groups
 * (spanndirectory.c): the query's distance to each of their lists'
 * centroids.  It probes the spann.probes nearest lists (all of them when
 * there are fewer): every entry's code gives a lower bound of its
 * distance (spannvectors.c), and the entries are heaped by it.  Rows
 * then come out nearest first, in exact distance order among the entries
 * found: the entry of lowest bound is reranked (its whole vector read,
 * its distance computed) until the nearest reranked row is no farther
 * than every bound left, and that row is returned.  A heap TID met again
 * (a vector sits in several lists) is reranked and returned once.  With
 * spann.iterative_scan = off that is all: spann.probes at the number of
 * lists makes the scan exact (such a scan, like strict_order, bounds
 * entries by what always holds, not by their codes' estimates, which
 * fail for a small share of entries).
 *
 * An index of bit keys has no codes: its entries hold the keys, so the
 * bound computed from an entry is its exact distance, and reranking reads
 * nothing more.
 *
 * When the executor wants more rows than those lists hold (a WHERE
 * clause dropped some), an iterative scan probes more lists, up to
 * spann.max_probes in all:
 * - relaxed_order (the default) probes the next spann.probes lists in
 *   centroid order, opening the next groups when the lists of the open
 *   ones run out, and heaps what it finds with what is left: a row
 *   found late may be nearer than one already returned, and is returned
 *   anyway.
 * - strict_order opens every group at the start, so that it knows each
 *   list's lower bound (SpannLowerBound: no entry of the list can be
 *   nearer the query, by the list's radius), and bounds entries by the
 *   bounds that always hold, not the codes' (which hold but for a small
 *   share of entries).  After the first probe it
 *   probes the rest in order of their bounds, and returns a row only when
 *   no list left unprobed has a bound below the row's distance.  Rows
 *   thus come out in exact distance order, and none is dropped, however
 *   far the scan goes; a query whose nearest rows are far from every
 *   centroid (high dimensions, unclustered data) pays by probing many
 *   lists.
 * The rows found and returned take memory in proportion to the entries
 * read: once they take work_mem times spann.scan_mem_multiplier, the scan
 * probes no more lists.  A scan that ends on spann.max_probes or on
 * memory while the executor still wants rows says so
 * (AnnReportIncompleteScan).
 *
 * Conditions on filter columns (annfilter.h) are tested on each entry's
 * signatures before its distance is computed: entries that fail cost no
 * distance and are not returned, and lists whose centroid's summary
 * shows no entry can pass are not read at all.  Because fewer entries
 * pass, the first probe goes on in centroid order until it has found
 * SPANN_FILTER_FOUND_PER_PROBE * spann.probes rows or read
 * SPANN_FILTER_LISTS_PER_PROBE * spann.probes lists: a filter that
 * matches whole lists (correlated with the vectors) gets many candidates
 * cheaply; one that matches a few rows of every list stops at a bounded
 * cost.  The executor rechecks the conditions (signatures collide).
 *
 * Locking: a share lock on one page at a time.  A list replaced by a
 * split while we read it keeps its pages until no snapshot as old as
 * ours remains (README, "Vacuum"), so a list is always read whole.
 */
#include "postgres.h"

#include <float.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "spann.h"

/* One entry found: its row and a lower bound of its distance */
typedef struct SpannFound
{
	float		lower;
	SpannRow	row;
} SpannFound;

/*
 * The entries found and not reranked yet: a binary min-heap by lower
 * bound.  A query reranks a few hundred of the thousands of entries its
 * lists hold, so they are not sorted, only heaped.
 */
typedef struct SpannFoundHeap
{
	SpannFound *items;
	int			count;
	int			capacity;
} SpannFoundHeap;

/* A reranked row: its exact distance */
typedef struct SpannRanked
{
	float		distance;
	ItemPointerData heaptid;
} SpannRanked;

/* A binary min-heap of reranked rows */
typedef struct SpannRankedHeap
{
	SpannRanked *items;
	int			count;
	int			capacity;
} SpannRankedHeap;

typedef struct SpannScanOpaqueData
{
	const SpannIndexInfo *info;
	AnnFilter  *filter;			/* conditions on filter columns, or NULL */
	MemoryContext scan_cxt;		/* reset by each rescan */
	bool		searched;
	const void *query;			/* elements of the prepared query */
	float	   *rotated_query;
	SpannListQuery list_query;	/* the query against the list being probed */
	SpannNavigation nav;		/* the groups of centroids, nearest first */
	SpannListRef *lists;		/* lists of the groups opened; the first nsorted
								 * nearest first */
	int			nlists;
	int			nsorted;
	int			next_list;		/* the first list not probed yet */
	int			lists_read;		/* lists whose entries were read */
	SpannScanSettings settings; /* the GUCs when the scan began */
	bool		sure_bounds;	/* bound entries by what always holds, not codes */
	SpannFoundHeap found;		/* found and not reranked yet */
	SpannRankedHeap ranked;		/* reranked and not returned yet */
	AnnTidSet  *reranked;		/* heap TIDs reranked */
	bool		out_of_memory;	/* found and returned reached the memory limit */
	bool		reported;		/* the scan said it ended short */
} SpannScanOpaqueData;

typedef SpannScanOpaqueData *SpannScanOpaque;

IndexScanDesc
spannbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	SpannScanOpaque so = palloc0(sizeof(SpannScanOpaqueData));

	so->info = SpannGetIndexInfo(index);
	so->scan_cxt = AllocSetContextCreate(CurrentMemoryContext, "Spann scan context",
										 ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

void
spannrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	SpannScanOpaque so = (SpannScanOpaque) scan->opaque;

	MemoryContextReset(so->scan_cxt);
	so->searched = false;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/*
 * The query's elements.  A NULL query orders nothing: use a zero
 * vector, which returns rows in some order, as a sequential scan sorting
 * NULL distances would.
 */
static const void *
query_elements(IndexScanDesc scan, SpannScanOpaque so)
{
	const AnnDistanceInfo *dist = &so->info->dist;
	Datum		key;
	bool		usable;
	int			dim;

	if (scan->numberOfOrderBys == 0 || (scan->orderByData[0].sk_flags & SK_ISNULL))
		key = AnnZeroKey(dist, so->info->dimensions);
	else
		key = AnnPrepareKey(dist, scan->orderByData[0].sk_argument, &usable);
	AnnKeyElements(dist, key, &dim);
	AnnCheckDimensions(so->info->dimensions, dim);
	return AnnKeyElements(dist, key, &dim);
}

/*
 * Append every entry of one list to the found entries (not heaped: the
 * caller heaps them), with a lower bound of its distance.  The entries' codes are relative to the list's centroid
 * (SpannListRotatedCentroid).  If its slot holds another list by now (a split,
 * merge or compaction replaced ours after the scan opened it; its chain
 * stays readable), the centroid is unknown and every bound is 0: each
 * entry is reranked.  Bit entries need no centroid.
 */
static void
scan_list(IndexScanDesc scan, SpannScanOpaque so, const SpannListRef *list)
{
	SpannFoundHeap *found = &so->found;
	const SpannIndexInfo *info = so->info;
	Relation	index = scan->indexRelation;
	BlockNumber blkno = list->head;
	BlockNumber steps_left = RelationGetNumberOfBlocks(index);
	float	   *centroid = palloc(sizeof(float) * info->padded);
	bool		known = info->entry_holds_key ||
		SpannListRotatedCentroid(index, list, centroid);

	if (known)
		SpannListQueryPrepare(info, &so->list_query, so->rotated_query, centroid);
	pfree(centroid);

	while (BlockNumberIsValid(blkno))
	{
		Buffer		buffer = SpannReadChainPage(index, blkno, SPANN_PAGE_POSTING, BUFFER_LOCK_SHARE,
												&steps_left, NULL);
		Page		page = BufferGetPage(buffer);
		OffsetNumber maxoff;
		BlockNumber this_block = blkno;

		blkno = AnnPageGetOpaque(page)->nextblkno;
		if (BlockNumberIsValid(blkno))
			AnnPrefetchLinked(index, blkno, info->known_nblocks);
		maxoff = PageGetMaxOffsetNumber(page);
		if (found->count + maxoff > found->capacity)
		{
			found->capacity = Max(found->capacity * 2, found->count + maxoff);
			found->items = repalloc_huge(found->items, sizeof(SpannFound) * found->capacity);
		}
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			SpannEntryTuple e = SpannPageGetEntry(index, this_block, page, off);
			SpannFound *f;

			if (so->filter != NULL &&
				!AnnFilterMatches(so->filter, SpannEntrySignatures(info, e)))
				continue;
			f = &found->items[found->count++];
			f->lower = !known ? 0 :
				SpannEntryLowerBound(info, &so->list_query, e, so->sure_bounds);
			f->row.heaptid = e->heaptid;
			f->row.vector = e->vector;
		}
		UnlockReleaseBuffer(buffer);
	}
}

/* Does a come before b: a lower bound, ties by heap TID (a stable order)? */
static inline bool
found_before(const SpannFound *a, const SpannFound *b)
{
	if (a->lower != b->lower)
		return a->lower < b->lower;
	return ItemPointerCompare((ItemPointer) &a->row.heaptid, (ItemPointer) &b->row.heaptid) < 0;
}

/* Move the item at i down the found heap to its place. */
static void
found_sift_down(SpannFoundHeap *heap, int i)
{
	SpannFound	item = heap->items[i];

	for (;;)
	{
		int			least = 2 * i + 1;

		if (least >= heap->count)
			break;
		if (least + 1 < heap->count &&
			found_before(&heap->items[least + 1], &heap->items[least]))
			least++;
		if (!found_before(&heap->items[least], &item))
			break;
		heap->items[i] = heap->items[least];
		i = least;
	}
	heap->items[i] = item;
}

/* Make the found entries a heap again after appends (Floyd's method). */
static void
found_heapify(SpannFoundHeap *heap)
{
	for (int i = heap->count / 2 - 1; i >= 0; i--)
		found_sift_down(heap, i);
}

static SpannFound
found_pop(SpannFoundHeap *heap)
{
	SpannFound	top = heap->items[0];

	heap->items[0] = heap->items[--heap->count];
	if (heap->count > 0)
		found_sift_down(heap, 0);
	return top;
}

/* Is a nearer than b (ties by heap TID, so the order is stable)? */
static bool
ranked_before(const SpannRanked *a, const SpannRanked *b)
{
	if (a->distance != b->distance)
		return a->distance < b->distance;
	return ItemPointerCompare((ItemPointer) &a->heaptid, (ItemPointer) &b->heaptid) < 0;
}

static void
ranked_push(SpannRankedHeap *heap, float distance, ItemPointer heaptid)
{
	int			i;

	if (heap->count == heap->capacity)
	{
		heap->capacity = Max(16, heap->capacity * 2);
		heap->items = heap->items == NULL ?
			palloc(sizeof(SpannRanked) * heap->capacity) :
			repalloc_huge(heap->items, sizeof(SpannRanked) * heap->capacity);
	}
	i = heap->count++;
	heap->items[i].distance = distance;
	heap->items[i].heaptid = *heaptid;
	while (i > 0 && ranked_before(&heap->items[i], &heap->items[(i - 1) / 2]))
	{
		SpannRanked swap = heap->items[i];

		heap->items[i] = heap->items[(i - 1) / 2];
		heap->items[(i - 1) / 2] = swap;
		i = (i - 1) / 2;
	}
}

static SpannRanked
ranked_pop(SpannRankedHeap *heap)
{
	SpannRanked top = heap->items[0];
	int			i = 0;

	heap->items[0] = heap->items[--heap->count];
	for (;;)
	{
		int			least = i;
		SpannRanked swap;

		for (int child = 2 * i + 1; child <= 2 * i + 2 && child < heap->count; child++)
			if (ranked_before(&heap->items[child], &heap->items[least]))
				least = child;
		if (least == i)
			break;
		swap = heap->items[i];
		heap->items[i] = heap->items[least];
		heap->items[least] = swap;
		i = least;
	}
	return top;
}

/*
 * Open more groups of centroids, nearest first and spann.group_probes at
 * a time, until at least wanted lists are left to probe or no group is
 * (the nearest groups may have lost all their lists).  Their lists join
 * the unprobed ones, which are sorted again when next needed.
 */
static void
open_groups(IndexScanDesc scan, SpannScanOpaque so, int wanted)
{
	while (so->nlists - so->next_list < wanted && so->nav.next_group < so->nav.ngroups)
	{
		int			n;
		SpannListRef *more = SpannOpenGroups(scan->indexRelation, &so->nav, spann_group_probes, &n);

		so->lists = repalloc_huge(so->lists, sizeof(SpannListRef) * Max(so->nlists + n, 1));
		memcpy(so->lists + so->nlists, more, sizeof(SpannListRef) * n);
		so->nlists += n;
		so->nsorted = so->next_list;
		pfree(more);
	}
}

/* Probe the next nprobes lists: what they hold joins the found entries. */
static void
probe_lists(IndexScanDesc scan, SpannScanOpaque so, int nprobes)
{
	int			end;
	bool	   *wanted;

	open_groups(scan, so, nprobes);
	end = Min(so->next_list + nprobes, so->nlists);
	wanted = palloc(sizeof(bool) * Max(end - so->next_list, 1));
	if (end > so->nsorted)
	{
		SpannSortLists(so->lists + so->nsorted, so->nlists - so->nsorted);
		so->nsorted = so->nlists;
	}
	for (int l = so->next_list; l < end; l++)
	{
		/* a list whose summary rules the filter out is not read */
		wanted[l - so->next_list] = so->filter == NULL ||
			SpannListMayMatch(scan->indexRelation, &so->lists[l], so->filter);
		if (wanted[l - so->next_list])
			AnnPrefetchLinked(scan->indexRelation, so->lists[l].head, so->info->known_nblocks);
	}
	for (int l = so->next_list; l < end; l++)
	{
		if (wanted[l - so->next_list])
		{
			scan_list(scan, so, &so->lists[l]);
			so->lists_read++;
		}
		CHECK_FOR_INTERRUPTS();
	}
	so->next_list = end;
	pfree(wanted);
	found_heapify(&so->found);
}

/* Has the scan probed every list, or at least opened every group? */
static bool
all_probed(SpannScanOpaque so)
{
	return so->next_list >= so->nlists && so->nav.next_group >= so->nav.ngroups;
}

/* Has the scan probed spann.max_probes lists? */
static bool
at_max_probes(SpannScanOpaque so)
{
	return so->settings.max_probes >= 0 && so->next_list >= so->settings.max_probes;
}

/*
 * Has the scan's memory reached work_mem times spann.scan_mem_multiplier?
 * Once it has, it stays so: the rows already found are still returned.
 */
static bool
at_memory_limit(SpannScanOpaque so)
{
	double		limit = (double) work_mem * 1024.0 * spann_scan_mem_multiplier;

	if (!so->out_of_memory)
		so->out_of_memory = (double) MemoryContextMemAllocated(so->scan_cxt, true) > limit;
	return so->out_of_memory;
}

/* Are lists left that spann.max_probes and the memory limit let the scan read? */
static bool
lists_left(SpannScanOpaque so)
{
	return !all_probed(so) && !at_max_probes(so) && !at_memory_limit(so);
}

/* May an iterative scan probe more lists? */
static bool
can_probe_more(SpannScanOpaque so)
{
	return so->settings.iterative != SPANN_ITERATIVE_OFF && lists_left(so);
}

/*
 * strict_order, after the first probe: the lists left, in order of their
 * lower bounds (every group was opened at the start).
 */
static void
order_by_bounds(SpannScanOpaque so)
{
	SpannSortListsByBound(so->lists + so->next_list, so->nlists - so->next_list);
	so->nsorted = so->nlists;
}

static void
start_scan(IndexScanDesc scan, SpannScanOpaque so)
{
	bool		strict;
	SpannMetaPageData meta;

	so->query = query_elements(scan, so);
	so->rotated_query = SpannRotate(so->info, so->query);
	so->list_query.query = so->query;
	so->list_query.code = NULL;
	SpannGetScanSettings(scan->indexRelation, &so->settings);
	strict = so->settings.iterative == SPANN_ITERATIVE_STRICT;
	SpannReadMeta(scan->indexRelation, &meta);
	/* strict order, and a scan of every list, promise exact order */
	so->sure_bounds = strict || so->settings.probes >= (int) meta.nlists;
	so->filter = AnnFilterFromScanKeys(&so->info->filters, scan->keyData, scan->numberOfKeys);
	SpannNavigate(scan->indexRelation, so->query, strict, &so->nav);
	so->lists = palloc(sizeof(SpannListRef));
	so->nlists = so->nsorted = so->next_list = 0;
	open_groups(scan, so, strict ? INT_MAX : 1);
	so->lists_read = 0;
	so->found.capacity = 256;
	so->found.count = 0;
	so->found.items = palloc(sizeof(SpannFound) * so->found.capacity);
	memset(&so->ranked, 0, sizeof(so->ranked));
	so->reranked = AnnTidSetCreate();
	so->out_of_memory = false;
	so->reported = false;
	if (so->filter != NULL && so->filter->impossible)
	{
		so->nlists = 0;
		return;
	}
	probe_lists(scan, so, so->settings.probes);
	if (so->filter != NULL)
		while (so->found.count < SPANN_FILTER_FOUND_PER_PROBE * so->settings.probes &&
			   so->lists_read < SPANN_FILTER_LISTS_PER_PROBE * so->settings.probes &&
			   lists_left(so))
			probe_lists(scan, so, so->settings.probes);
	if (strict)
		order_by_bounds(so);
}

/*
 * strict_order: how many of the next lists (at most spann.probes) may
 * hold a row nearer than distance, by their bounds; 0 when none may or
 * when spann.max_probes stops the scan (the rows found are then returned
 * in their order, as the best the budget allows).
 */
static int
lists_below(SpannScanOpaque so, float distance)
{
	int			n = 0;

	while (so->next_list + n < so->nlists && n < so->settings.probes &&
		   so->lists[so->next_list + n].bound < distance)
		n++;
	return lists_left(so) ? n : 0;
}

/*
 * Rerank the found entry of lowest bound: its exact distance, from its
 * vector tuple, joins the ranked rows, unless its row was reranked from
 * another list already or is gone (VACUUM removed it: dead to us).  A
 * bit entry's bound is its exact distance already.
 */
static void
rerank_next(IndexScanDesc scan, SpannScanOpaque so)
{
	SpannFound	f = found_pop(&so->found);
	float		distance;

	if (!AnnTidSetAdd(so->reranked, &f.row.heaptid))
		return;
	if (so->info->entry_holds_key)
		ranked_push(&so->ranked, f.lower, &f.row.heaptid);
	else if (SpannRowDistance(scan->indexRelation, &f.row, so->query, &distance))
		ranked_push(&so->ranked, distance, &f.row.heaptid);
}

/* The next row to return, or false when the scan is over. */
static bool
next_row(IndexScanDesc scan, SpannScanOpaque so, ItemPointer tid)
{
	for (;;)
	{
		bool		unranked = so->found.count > 0;
		SpannRanked *best;
		int			nearer;

		if (so->ranked.count == 0 && !unranked)
		{
			if (!can_probe_more(so))
				return false;
			probe_lists(scan, so, so->settings.probes);
			continue;
		}
		best = so->ranked.count > 0 ? &so->ranked.items[0] : NULL;
		if (best == NULL || (unranked && so->found.items[0].lower < best->distance))
		{
			rerank_next(scan, so);
			continue;
		}
		if (so->settings.iterative == SPANN_ITERATIVE_STRICT &&
			(nearer = lists_below(so, best->distance)) > 0)
		{
			probe_lists(scan, so, nearer);
			continue;
		}
		*tid = ranked_pop(&so->ranked).heaptid;
		return true;
	}
}

/*
 * The scan has nothing more to return while the executor wants rows:
 * say so if spann.max_probes or the memory limit stopped it with lists
 * left.
 */
static void
report_if_short(IndexScanDesc scan, SpannScanOpaque so)
{
	if (so->reported || so->settings.iterative == SPANN_ITERATIVE_OFF || all_probed(so))
		return;
	if (at_max_probes(so))
		AnnReportIncompleteScan(scan->indexRelation,
								psprintf("%s.max_probes (%d) lists were probed.",
										 so->settings.prefix, so->settings.max_probes),
								so->settings.max_probes_hint);
	else if (so->out_of_memory)
		AnnReportIncompleteScan(scan->indexRelation,
								"The scan's memory reached work_mem times spann.scan_mem_multiplier.",
								"Raise work_mem or spann.scan_mem_multiplier.");
	else
		return;
	so->reported = true;
}

bool
spanngettuple(IndexScanDesc scan, ScanDirection dir)
{
	SpannScanOpaque so = (SpannScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->scan_cxt);
	bool		more;

	if (!so->searched)
	{
		so->searched = true;
		start_scan(scan, so);
		pgstat_count_index_scan(scan->indexRelation);
	}
	more = next_row(scan, so, &scan->xs_heaptid);
	if (!more)
		report_if_short(scan, so);
	MemoryContextSwitchTo(old);
	scan->xs_recheck = so->filter != NULL;	/* signatures can collide */
	scan->xs_recheckorderby = false;
	return more;
}

void
spannendscan(IndexScanDesc scan)
{
	SpannScanOpaque so = (SpannScanOpaque) scan->opaque;

	MemoryContextDelete(so->scan_cxt);
	pfree(so);
	scan->opaque = NULL;
}
