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
 * read: once they take work_mem times spann.scan_mem_multiplier,
 * relaxed_order probes no more lists, and strict_order keeps the nearest
 * rows it holds and reads the lists again later for the others
 * (SpannWindow).  A scan that ends on spann.max_probes or on memory while
 * the executor still wants rows says so (AnnReportIncompleteScan).
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

/*
 * A row a scan holds: found (its distance is the lower bound its entry's
 * code gives) or reranked (its exact distance)
 */
typedef struct SpannCandidate
{
	float		distance;
	SpannRow	row;
} SpannCandidate;

/*
 * A binary min-heap of candidates by distance, ties by heap TID (a stable
 * order).  The entries found are only heaped, not sorted: a query reranks
 * a few hundred of the thousands of entries its lists hold.
 */
typedef struct SpannHeap
{
	SpannCandidate *items;
	int			count;
	int			capacity;
} SpannHeap;

/*
 * At the memory limit, strict_order keeps as many rows as half the memory
 * left beside the lists holds at SPANN_WINDOW_ROW_BYTES a row (its place
 * in a heap that may double, its heap TID in a hash table), and ends
 * short if that is fewer than SPANN_WINDOW_MIN_ROWS
 */
#define SPANN_WINDOW_ROW_BYTES	80
#define SPANN_WINDOW_MIN_ROWS	64

/*
 * strict_order's rows in bounded memory.  Rows come out in the order of
 * their (distance, heap TID) keys, so every row at or before the last
 * one returned was returned.  When the rows a scan holds reach the
 * memory limit, it keeps those of the nearest keys and drops the rest,
 * and from then on drops every row at or after the ceiling as it finds
 * it.  Once it has returned every row before the ceiling, a new pass
 * probes every list again for the rows after it.
 */
typedef struct SpannWindow
{
	bool		returned_any;
	SpannCandidate last;		/* the last row returned */
	bool		bounded;
	SpannCandidate ceiling;		/* rows at or after it wait for a later pass */
	bool		after_pass;
	SpannCandidate done_before; /* every row before it was returned */
} SpannWindow;

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
								 * nearest first, none after them nearer */
	int			nlists;
	int			nsorted;
	int			next_list;		/* the first list not probed yet */
	int			lists_read;		/* lists whose entries were read */
	SpannScanSettings settings; /* the GUCs when the scan began */
	bool		sure_bounds;	/* bound entries by what always holds, not codes */
	MemoryContext rows_cxt;		/* found, ranked and reranked: what a full
								 * strict_order scan sheds */
	SpannHeap	found;			/* found and not reranked yet */
	SpannHeap	ranked;			/* reranked and not returned yet */
	AnnTidSet  *reranked;		/* heap TIDs reranked */
	SpannWindow window;			/* strict_order only */
	int			lists_probed;	/* in every pass */
	bool		out_of_memory;	/* the rows held reached the memory limit */
	bool		reported;		/* the scan said it ended short */
	double		order_slack;	/* AnnOrderSlack */
} SpannScanOpaqueData;

typedef SpannScanOpaqueData *SpannScanOpaque;

IndexScanDesc
spannbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	SpannScanOpaque so = palloc0(sizeof(SpannScanOpaqueData));

	so->info = SpannGetIndexInfo(index);
	so->order_slack = AnnOrderSlack(&so->info->dist, so->info->dimensions);
	AnnInitOrderBy(scan);
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
	AnnCheckQueryDimensions(dist, so->info->dimensions, dim);
	return AnnKeyElements(dist, key, &dim);
}

static inline bool
candidate_before(const SpannCandidate *a, const SpannCandidate *b)
{
	if (a->distance != b->distance)
		return a->distance < b->distance;
	return ItemPointerCompare((ItemPointer) &a->row.heaptid, (ItemPointer) &b->row.heaptid) < 0;
}

static void
heap_init(SpannHeap *heap, int capacity)
{
	heap->count = 0;
	heap->capacity = capacity;
	heap->items = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(SpannCandidate) * capacity);
}

/* Room for n more items (appended unheaped, or pushed) */
static void
heap_reserve(SpannHeap *heap, int n)
{
	if (heap->count + n <= heap->capacity)
		return;
	heap->capacity = Max(heap->capacity * 2, heap->count + n);
	heap->items = repalloc_huge(heap->items, sizeof(SpannCandidate) * heap->capacity);
}

/* Move the item at i down the heap to its place. */
static void
heap_sift_down(SpannHeap *heap, int i)
{
	SpannCandidate item = heap->items[i];

	for (;;)
	{
		int			least = 2 * i + 1;

		if (least >= heap->count)
			break;
		if (least + 1 < heap->count &&
			candidate_before(&heap->items[least + 1], &heap->items[least]))
			least++;
		if (!candidate_before(&heap->items[least], &item))
			break;
		heap->items[i] = heap->items[least];
		i = least;
	}
	heap->items[i] = item;
}

/* Make the items a heap again after appends (Floyd's method). */
static void
heap_heapify(SpannHeap *heap)
{
	for (int i = heap->count / 2 - 1; i >= 0; i--)
		heap_sift_down(heap, i);
}

static void
heap_push(SpannHeap *heap, float distance, const SpannRow *row)
{
	SpannCandidate item = {distance, *row};
	int			i;

	heap_reserve(heap, 1);
	i = heap->count++;
	while (i > 0 && candidate_before(&item, &heap->items[(i - 1) / 2]))
	{
		heap->items[i] = heap->items[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap->items[i] = item;
}

static SpannCandidate
heap_pop(SpannHeap *heap)
{
	SpannCandidate top = heap->items[0];

	heap->items[0] = heap->items[--heap->count];
	if (heap->count > 0)
		heap_sift_down(heap, 0);
	return top;
}

/* strict_order: does the row of this key (or bound) wait for a later pass? */
static bool
after_ceiling(const SpannWindow *window, const SpannCandidate *c)
{
	return window->bounded && !candidate_before(c, &window->ceiling);
}

/* strict_order: was the row of this exact key returned already? */
static bool
returned_already(const SpannWindow *window, const SpannCandidate *c)
{
	return (window->returned_any && !candidate_before(&window->last, c)) ||
		(window->after_pass && candidate_before(c, &window->done_before));
}

/*
 * Append every entry of one list to the found entries (not heaped: the
 * caller heaps them), with a lower bound of its distance.  The entries'
 * codes are relative to the list's centroid (SpannListRotatedCentroid).
 * If its slot holds another list by now (a split, merge or compaction
 * replaced ours after the scan opened it; its chain stays readable), the
 * centroid is unknown and every bound is the least distance the metric
 * has (SpannLeastDistance): each entry is reranked before any row is
 * returned.  Bit entries need no centroid.
 */
static void
scan_list(IndexScanDesc scan, SpannScanOpaque so, const SpannListRef *list)
{
	SpannHeap  *found = &so->found;
	const SpannIndexInfo *info = so->info;
	Relation	index = scan->indexRelation;
	BlockNumber blkno = list->head;
	AnnChainBound bound = AnnChainStart(*info->known_nblocks);
	float	   *centroid = palloc(sizeof(float) * info->padded);
	bool		known = info->entry_holds_key ||
		SpannListRotatedCentroid(index, list, centroid);

	if (known)
		SpannListQueryPrepare(info, &so->list_query, so->rotated_query, centroid);
	pfree(centroid);

	while (BlockNumberIsValid(blkno))
	{
		Buffer		buffer = SpannReadChainPage(index, blkno, SPANN_PAGE_POSTING, BUFFER_LOCK_SHARE,
												&bound, NULL);
		Page		page = BufferGetPage(buffer);
		OffsetNumber maxoff;
		BlockNumber this_block = blkno;

		blkno = AnnPageGetOpaque(page)->nextblkno;
		if (BlockNumberIsValid(blkno))
			AnnPrefetchLinked(index, blkno, info->known_nblocks);
		maxoff = PageGetMaxOffsetNumber(page);
		heap_reserve(found, maxoff);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			SpannEntryTuple e = SpannPageGetEntry(index, this_block, page, off);
			SpannCandidate *f;

			if (so->filter != NULL &&
				!AnnFilterMatches(so->filter, SpannEntrySignatures(info, e)))
				continue;
			f = &found->items[found->count];
			f->distance = !known ? SpannLeastDistance(info) :
				SpannEntryLowerBound(info, &so->list_query, e, so->sure_bounds);
			f->row.heaptid = e->heaptid;
			f->row.vector = e->vector;
			if (!after_ceiling(&so->window, f))
				found->count++;
		}
		UnlockReleaseBuffer(buffer);
	}
}

/*
 * Open more groups of centroids, nearest first and spann.group_probes at
 * a time, until at least wanted lists are left to probe or no group is
 * (the nearest groups may have lost all their lists).  Their lists join
 * the unprobed ones, from which the nearest are selected again when next
 * needed.
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
		SpannSelectNearestLists(so->lists + so->nsorted, so->nlists - so->nsorted,
								end - so->nsorted);
		so->nsorted = end;
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
	so->lists_probed += end - so->next_list;
	so->next_list = end;
	pfree(wanted);
	heap_heapify(&so->found);
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
	return so->settings.max_probes >= 0 && so->lists_probed >= so->settings.max_probes;
}

static bool
strict_order(SpannScanOpaque so)
{
	return so->settings.iterative == SPANN_ITERATIVE_STRICT;
}

/*
 * strict_order: are the lists left all after the ceiling (sorted by
 * their bounds, none can hold a row before it)?
 */
static bool
past_ceiling(SpannScanOpaque so)
{
	return so->window.bounded && so->next_list < so->nlists &&
		so->lists[so->next_list].bound > so->window.ceiling.distance;
}

/*
 * strict_order: how many of the next lists (at most spann.probes) may
 * hold a row whose key is before one at distance, by their bounds; 0
 * when none may
 */
static int
lists_below(SpannScanOpaque so, float distance)
{
	int			n = 0;

	while (so->next_list + n < so->nlists && n < so->settings.probes &&
		   so->lists[so->next_list + n].bound <= distance)
		n++;
	return n;
}

/* A reranked row joins the ranked ones, unless strict_order is done with it for now. */
static void
rank(SpannScanOpaque so, float distance, const SpannRow *row)
{
	SpannCandidate c = {distance, *row};

	if (!returned_already(&so->window, &c) && !after_ceiling(&so->window, &c))
		heap_push(&so->ranked, distance, row);
}

/*
 * Rerank the found entries of lowest bounds: their exact distances, from
 * their vector tuples, join the ranked rows, unless a row was reranked
 * from another list already or is gone (VACUUM removed it: dead to us).
 * After the first, entries are taken while their bounds are below the
 * nearest ranked row's distance (next_row would rerank each before
 * returning that row), up to SPANN_RERANK_BATCH, whose vector pages are
 * then read side by side.  A bit entry's bound is its exact distance
 * already.
 */
static void
rerank_next(IndexScanDesc scan, SpannScanOpaque so)
{
	SpannRow	rows[SPANN_RERANK_BATCH];
	float		distances[SPANN_RERANK_BATCH];
	bool		ok[SPANN_RERANK_BATCH];
	float		limit = so->ranked.count > 0 ? so->ranked.items[0].distance : -INFINITY;
	int			n = 0;

	if (so->info->entry_holds_key)
	{
		SpannCandidate f = heap_pop(&so->found);

		if (AnnTidSetAdd(so->reranked, &f.row.heaptid))
			rank(so, f.distance, &f.row);
		return;
	}
	do
	{
		SpannCandidate f = heap_pop(&so->found);

		if (AnnTidSetAdd(so->reranked, &f.row.heaptid))
			rows[n++] = f.row;
	} while (n < SPANN_RERANK_BATCH && so->found.count > 0 &&
			 so->found.items[0].distance < limit);
	SpannRowDistances(scan->indexRelation, rows, n, so->query, distances, ok);
	for (int i = 0; i < n; i++)
		if (ok[i])
			rank(so, distances[i], &rows[i]);
}

/* The bytes a scan may hold: work_mem times spann.scan_mem_multiplier */
static double
memory_limit(void)
{
	return (double) work_mem * 1024.0 * spann_scan_mem_multiplier;
}

static bool
over_memory_limit(SpannScanOpaque so)
{
	return (double) MemoryContextMemAllocated(so->scan_cxt, true) > memory_limit();
}

/* A new memory context for the rows held, with empty heaps and TID set */
static void
new_rows(SpannScanOpaque so, int found_capacity, int ranked_capacity)
{
	MemoryContext caller;

	so->rows_cxt = AllocSetContextCreate(so->scan_cxt, "Spann scan rows", ALLOCSET_SMALL_MINSIZE,
										 ALLOCSET_SMALL_INITSIZE, ALLOCSET_DEFAULT_MAXSIZE);
	caller = MemoryContextSwitchTo(so->rows_cxt);
	heap_init(&so->found, Max(found_capacity, 16));
	heap_init(&so->ranked, Max(ranked_capacity, 16));
	so->reranked = AnnTidSetCreate();
	MemoryContextSwitchTo(caller);
}

static int
count_before_ceiling(const SpannWindow *window, const SpannHeap *heap)
{
	int			n = 0;

	for (int i = 0; i < heap->count; i++)
		n += !after_ceiling(window, &heap->items[i]);
	return n;
}

static void
copy_before_ceiling(const SpannWindow *window, const SpannHeap *from, SpannHeap *to)
{
	for (int i = 0; i < from->count; i++)
		if (!after_ceiling(window, &from->items[i]))
			to->items[to->count++] = from->items[i];
	heap_heapify(to);
}

/*
 * strict_order: move the rows before the ceiling to a new memory
 * context, with a TID set that holds the ranked ones only (rows reranked
 * and dropped are reranked again if met again), and free the old one
 */
static void
rebuild_rows(SpannScanOpaque so)
{
	MemoryContext old_rows = so->rows_cxt;
	SpannHeap	found = so->found;
	SpannHeap	ranked = so->ranked;

	new_rows(so, count_before_ceiling(&so->window, &found),
			 count_before_ceiling(&so->window, &ranked));
	copy_before_ceiling(&so->window, &found, &so->found);
	copy_before_ceiling(&so->window, &ranked, &so->ranked);
	for (int i = 0; i < so->ranked.count; i++)
		AnnTidSetAdd(so->reranked, &so->ranked.items[i].row.heaptid);
	MemoryContextDelete(old_rows);
}

/*
 * Reorder items so that items[k] is the one k-th in key order, none
 * before it after it and none after it before it (quickselect)
 */
static void
select_nth(SpannCandidate *items, int n, int k)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo < hi)
	{
		SpannCandidate pivot = items[lo + (hi - lo) / 2];
		int			i = lo;
		int			j = hi;

		while (i <= j)
		{
			while (candidate_before(&items[i], &pivot))
				i++;
			while (candidate_before(&pivot, &items[j]))
				j--;
			if (i <= j)
			{
				SpannCandidate swap = items[i];

				items[i++] = items[j];
				items[j--] = swap;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
}

/*
 * A ceiling that keeps the keep rows of nearest keys (bounds for rows
 * not reranked) of those held, more if they tie, and at least one: a pass
 * that kept none would not move on.  False if every row held has the
 * same key (the replicas of one row).
 */
static bool
choose_ceiling(SpannScanOpaque so, int keep, SpannCandidate *ceiling)
{
	int			n = so->found.count + so->ranked.count;
	SpannCandidate *keys = MemoryContextAllocHuge(so->rows_cxt, sizeof(SpannCandidate) * n);
	bool		kept_one = false;
	SpannCandidate *next = NULL;

	memcpy(keys, so->found.items, sizeof(SpannCandidate) * so->found.count);
	memcpy(keys + so->found.count, so->ranked.items, sizeof(SpannCandidate) * so->ranked.count);
	select_nth(keys, n, keep);
	for (int i = 0; i < keep && !kept_one; i++)
		kept_one = candidate_before(&keys[i], &keys[keep]);
	for (int i = keep + 1; i < n && !kept_one; i++)
		if (candidate_before(&keys[keep], &keys[i]) &&
			(next == NULL || candidate_before(&keys[i], next)))
			next = &keys[i];
	if (kept_one || next != NULL)
		*ceiling = kept_one ? keys[keep] : *next;
	pfree(keys);
	return kept_one || next != NULL;
}

/*
 * strict_order at the memory limit: keep the rows of nearest keys, as
 * many as half the memory the lists leave takes, and drop the others
 * until a later pass.  Found entries whose bounds say they may have been
 * returned are reranked first, so that every row kept may still be
 * returned.  False if the scan stays over the limit.
 */
static bool
shrink_window(IndexScanDesc scan, SpannScanOpaque so)
{
	double		held = (double) MemoryContextMemAllocated(so->rows_cxt, true);
	double		room = memory_limit() -
		((double) MemoryContextMemAllocated(so->scan_cxt, true) - held);
	int			keep;
	SpannCandidate ceiling;

	keep = (int) Min(room / (2 * SPANN_WINDOW_ROW_BYTES), (double) (INT_MAX / 2));
	if (keep < SPANN_WINDOW_MIN_ROWS)
		return false;
	while (so->found.count > 0 && returned_already(&so->window, &so->found.items[0]))
		rerank_next(scan, so);
	if (so->found.count + so->ranked.count > keep)
	{
		if (!choose_ceiling(so, keep, &ceiling))
			return false;
		so->window.bounded = true;
		so->window.ceiling = ceiling;
	}
	rebuild_rows(so);
	return !over_memory_limit(so);
}

/*
 * May the scan take more memory?  strict_order at the limit sheds rows
 * for a later pass and goes on; the other modes stop probing, and return
 * the rows they hold.
 */
static bool
memory_left(IndexScanDesc scan, SpannScanOpaque so)
{
	if (!so->out_of_memory && over_memory_limit(so) &&
		!(strict_order(so) && shrink_window(scan, so)))
		so->out_of_memory = true;
	return !so->out_of_memory;
}

/*
 * Are lists left that spann.max_probes, the memory limit and
 * strict_order's ceiling let the scan read now?
 */
static bool
lists_left(IndexScanDesc scan, SpannScanOpaque so)
{
	return !all_probed(so) && !at_max_probes(so) && memory_left(scan, so) && !past_ceiling(so);
}

/* May an iterative scan probe more lists? */
static bool
can_probe_more(IndexScanDesc scan, SpannScanOpaque so)
{
	return so->settings.iterative != SPANN_ITERATIVE_OFF && lists_left(scan, so);
}

/*
 * strict_order: the lists left, in order of their lower bounds (every
 * group was opened at the start)
 */
static void
order_by_bounds(SpannScanOpaque so)
{
	SpannSortListsByBound(so->lists + so->next_list, so->nlists - so->next_list);
	so->nsorted = so->nlists;
}

/*
 * strict_order, every row before the ceiling returned: start a new pass
 * over every list for the rows after it.  False when the scan is over.
 */
static bool
start_next_pass(SpannScanOpaque so)
{
	if (!so->window.bounded || so->out_of_memory || at_max_probes(so))
		return false;
	so->window.after_pass = true;
	so->window.done_before = so->window.ceiling;
	so->window.bounded = false;
	rebuild_rows(so);
	so->next_list = 0;
	order_by_bounds(so);
	return true;
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
	strict = strict_order(so);
	SpannReadMeta(scan->indexRelation, &meta);
	/* strict order, and a scan of every list, promise exact order */
	so->sure_bounds = strict || so->settings.probes >= (int) meta.nlists;
	so->filter = AnnFilterFromScanKeys(&so->info->filters, scan->keyData, scan->numberOfKeys);
	SpannNavigate(scan->indexRelation, so->query, strict, &so->nav);
	so->lists = palloc(sizeof(SpannListRef));
	so->nlists = so->nsorted = so->next_list = 0;
	open_groups(scan, so, strict ? INT_MAX : 1);
	so->lists_read = so->lists_probed = 0;
	new_rows(so, 256, 16);
	memset(&so->window, 0, sizeof(SpannWindow));
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
			   lists_left(scan, so))
			probe_lists(scan, so, so->settings.probes);
	if (strict)
		order_by_bounds(so);
}

/* The next row to return and its distance, or false when the scan is over. */
static bool
next_row(IndexScanDesc scan, SpannScanOpaque so, ItemPointer tid, float *distance)
{
	for (;;)
	{
		bool		unranked = so->found.count > 0;
		SpannCandidate *best;
		SpannCandidate row;
		int			nearer;

		if (so->ranked.count == 0 && !unranked)
		{
			if (can_probe_more(scan, so))
				probe_lists(scan, so, so->settings.probes);
			else if (!start_next_pass(so))
				return false;
			continue;
		}
		best = so->ranked.count > 0 ? &so->ranked.items[0] : NULL;
		if (best == NULL || (unranked && candidate_before(&so->found.items[0], best)))
		{
			rerank_next(scan, so);
			continue;
		}
		if (strict_order(so) && (nearer = lists_below(so, best->distance)) > 0)
		{
			/*
			 * A list left may hold a row before this one: a budget that
			 * forbids probing it ends the scan here, short (and
			 * reported), rather than return rows it cannot prove come
			 * first.  Memory only shrinks the window, which may drop
			 * this row till a later pass.
			 */
			if (lists_left(scan, so))
				probe_lists(scan, so, nearer);
			else if (so->out_of_memory || at_max_probes(so))
				return false;
			continue;
		}
		row = heap_pop(&so->ranked);
		if (strict_order(so))
		{
			so->window.returned_any = true;
			so->window.last = row;
		}
		*distance = row.distance;
		*tid = row.row.heaptid;
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
	if (so->reported || so->settings.iterative == SPANN_ITERATIVE_OFF ||
		(all_probed(so) && !so->window.bounded))
		return;
	if (at_max_probes(so))
		AnnReportIncompleteScan(scan->indexRelation,
								psprintf("%d %s probed (%s.max_probes is %d, %s.probes %d).",
										 so->lists_probed, so->lists_probed == 1 ? "list was" : "lists were",
										 so->settings.prefix, so->settings.max_probes,
										 so->settings.prefix, so->settings.probes),
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
	float		distance = 0;

	if (!so->searched)
	{
		so->searched = true;
		start_scan(scan, so);
		pgstat_count_index_scan(scan->indexRelation);
	}
	more = next_row(scan, so, &scan->xs_heaptid, &distance);
	if (!more)
		report_if_short(scan, so);
	MemoryContextSwitchTo(old);
	scan->xs_recheck = so->filter != NULL;	/* signatures can collide */
	AnnSetOrderBy(scan, &so->info->dist, more ? so->order_slack : 0, distance);
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
