/*
 * hnswvacuum.c
 *		VACUUM for hnsw: drop dead heap TIDs, repair the graph around
 *		elements that lost all of theirs, then free those elements.
 *
 * 1. Every page, exclusively locked in turn: remove heap TIDs the callback
 *    reports dead.  Elements left with none are "dead": still in the
 *    graph, traversed but never returned.
 * 2. Take HNSW_UPDATE_LOCK exclusively for a moment: that waits for the
 *    inserts under way, which may still link to what pass 1 found dead
 *    (later ones skip dead elements), and moves the entry point off a
 *    dead element.  Then, while inserts run, re-choose every layer list
 *    that links to a dead element from its live links plus the live
 *    links of the dead ones (two hops), with the usual heuristic; a list
 *    an insert changed meanwhile is chosen again.
 *    A repair may leave out an element that only the dead ones linked to,
 *    and concurrent inserts can leave one without links too (by pruning
 *    its last in-link): every VACUUM
 *    (also one with nothing to remove, in amvacuumcleanup) then walks the
 *    graph from the entry point and finds the live
 *    elements no link leads to, and each gets a link from the nearest
 *    element a search from the entry point reaches (in a free slot of its
 *    layer-0 list, or instead of its farthest link whose element other
 *    links also reach).
 * 3. Under HNSW_UPDATE_LOCK exclusive (no insert under way, so none holds
 *    a cached copy of an element whose space is then reused): mark dead
 *    elements deleted and empty their neighbour lists; later inserts
 *    reuse their space, from the lowest such page on.
 *
 * See README, "Vacuum", for the states readers can meet in between.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "hnsw.h"

typedef struct HnswVacuumState
{
	Relation	index;
	IndexVacuumInfo *vinfo;
	const HnswIndexInfo *info;
	HnswRef    *dead;			/* ascending, as found */
	int			ndead;
	int			dead_capacity;
	HnswRef		best_live;		/* a live element of the highest level */
	int			best_live_level;
	HnswDiskGraph graph;		/* keeps keys, for repair distances */
} HnswVacuumState;

static bool
is_dead(HnswVacuumState *vs, HnswRef ref)
{
	int			lo = 0,
				hi = vs->ndead - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (vs->dead[mid] == ref)
			return true;
		if (vs->dead[mid] < ref)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

static void
add_dead(HnswVacuumState *vs, HnswRef ref)
{
	if (vs->ndead == vs->dead_capacity)
	{
		vs->dead_capacity *= 2;
		vs->dead = repalloc_huge(vs->dead, sizeof(HnswRef) * vs->dead_capacity);
	}
	vs->dead[vs->ndead++] = ref;
}

/* Does any element of page hold a heap TID the callback reports dead? */
static bool
page_has_dead_tids(Relation index, BlockNumber blkno, Page page,
				   IndexBulkDeleteCallback callback, void *callback_state)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple element = HnswPageGetElement(index, blkno, page, off);

		if (element == NULL || element->deleted)
			continue;
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
			if (ItemPointerIsValid(&element->heaptids[i]) &&
				callback(&element->heaptids[i], callback_state))
				return true;
	}
	return false;
}

/* Drop the dead heap TIDs, keeping the live ones first (inserts fill the first free slot). */
static void
drop_dead_tids(Relation index, BlockNumber blkno, Page page, IndexBulkDeleteCallback callback,
			   void *callback_state, IndexBulkDeleteResult *stats)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple element = HnswPageGetElement(index, blkno, page, off);
		int			live = 0;

		if (element == NULL || element->deleted)
			continue;
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
		{
			ItemPointerData tid = element->heaptids[i];

			ItemPointerSetInvalid(&element->heaptids[i]);
			if (!ItemPointerIsValid(&tid))
				continue;
			if (callback(&tid, callback_state))
				stats->tuples_removed++;
			else
				element->heaptids[live++] = tid;
		}
	}
}

/* Count the page's live TIDs; note elements left with none, and the highest live one. */
static void
survey_page(HnswVacuumState *vs, Page page, BlockNumber blkno, IndexBulkDeleteResult *stats)
{
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple element = HnswPageGetElement(vs->index, blkno, page, off);
		ItemPointerData tid;
		int			live = 0;

		if (element == NULL || element->deleted)
			continue;
		for (int i = 0; i < HNSW_HEAPTIDS; i++)
			live += ItemPointerIsValid(&element->heaptids[i]) ? 1 : 0;
		stats->num_index_tuples += live;
		ItemPointerSet(&tid, blkno, off);
		if (live == 0)
			add_dead(vs, HnswTidToRef(&tid));
		else if (element->level > vs->best_live_level)
		{
			vs->best_live = HnswTidToRef(&tid);
			vs->best_live_level = element->level;
		}
	}
}

/* Pass 1 over every page. */
static void
remove_dead_tuples(HnswVacuumState *vs, IndexBulkDeleteCallback callback,
				   void *callback_state, IndexBulkDeleteResult *stats)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer;
		Page		page;

		vacuum_delay_point();
		buffer = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
									vs->vinfo->strategy);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buffer);
		if (!PageIsNew(page))
		{
			/* most pages need no WAL record at all */
			if (page_has_dead_tids(vs->index, blkno, page, callback, callback_state))
			{
				AnnEdit		edit;

				AnnEditBegin(&edit, vs->index, false);
				drop_dead_tids(vs->index, blkno, AnnEditRegister(&edit, buffer, false), callback,
							   callback_state, stats);
				AnnEditFinish(&edit);
			}
			survey_page(vs, page, blkno, stats);
		}
		UnlockReleaseBuffer(buffer);
	}
}

/* Add ref to candidates unless it is the element itself, dead or there already. */
static void
add_candidate(HnswVacuumState *vs, HnswRef self, HnswRef ref, HnswCandidate *candidates,
			  int *n)
{
	if (ref == self || is_dead(vs, ref))
		return;
	for (int i = 0; i < *n; i++)
		if (candidates[i].ref == ref)
			return;
	candidates[*n].ref = ref;
	candidates[*n].distance = HnswDiskGraphPairDistance(&vs->graph, self, ref);
	(*n)++;
}

/*
 * The first live twin on self's twin chain after dead, a dead twin that
 * self's layer-0 list links to: a run of dead twins is passed by whole
 * (two hops pass by one).  HNSW_NO_REF if the chain comes back to self
 * or breaks.
 */
static HnswRef
next_live_twin(HnswVacuumState *vs, HnswRef self, HnswRef dead, HnswRef *scratch)
{
	HnswRef		at = dead;

	/* a chain passes by each dead element once */
	for (int steps = 0; steps <= vs->ndead; steps++)
	{
		int			n = HnswDiskGraphNeighbors(&vs->graph, at, 0, scratch);
		int			next = HnswTwinLinkAt(&vs->graph, self, scratch, n);

		if (next < 0 || scratch[next] == self)
			return HNSW_NO_REF;
		if (!is_dead(vs, scratch[next]))
			return scratch[next];
		at = scratch[next];
	}
	return HNSW_NO_REF;
}

/*
 * Leave of candidates[0..n) (with their distances to owner) no twin of
 * owner but chain, the twin its chain goes on to: the heuristic keeps one
 * twin, and it must be that one (see README).  Returns the new count.
 */
static int
keep_chain_twin(HnswVacuumState *vs, HnswRef owner, HnswCandidate *candidates, int n,
				HnswRef chain)
{
	int			out = 0;

	for (int i = 0; i < n; i++)
		if (candidates[i].ref == chain ||
			!HnswTwins(vs->info, &hnsw_disk_pair_ops, &vs->graph, owner, candidates[i].ref,
					   candidates[i].distance))
			candidates[out++] = candidates[i];
	return out;
}

/*
 * New links of self on layer, replacing the dead ones among its current
 * links by their live neighbours; returns how many, or -1 when the layer
 * links no dead element and needs no change.
 */
static int
repair_layer(HnswVacuumState *vs, HnswRef self, int layer, const HnswRef *links, int nlinks,
			 HnswRef *out)
{
	int			m = vs->info->m;
	HnswRef    *hop = palloc(sizeof(HnswRef) * 2 * m);
	HnswCandidate *candidates = palloc(sizeof(HnswCandidate) * (2 * m * (2 * m + 1) + 1));
	HnswCandidate *kept = palloc(sizeof(HnswCandidate) * 2 * m);
	int			n = 0;
	bool		any_dead = false;
	int			nown;
	int			twin;
	HnswRef		chain = HNSW_NO_REF;

	for (int i = 0; i < nlinks; i++)
		any_dead |= is_dead(vs, links[i]);
	if (!any_dead)
		return -1;
	twin = layer == 0 ? HnswTwinLinkAt(&vs->graph, self, links, nlinks) : -1;

	for (int i = 0; i < nlinks; i++)
		if (!is_dead(vs, links[i]))
			add_candidate(vs, self, links[i], candidates, &n);
	nown = n;
	for (int i = 0; i < nlinks; i++)
		if (is_dead(vs, links[i]))
		{
			int			nhop = HnswDiskGraphNeighbors(&vs->graph, links[i], layer, hop);

			for (int j = 0; j < nhop; j++)
				add_candidate(vs, self, hop[j], candidates, &n);
		}

	/*
	 * The heuristic's cost grows with candidates: the list's own links and
	 * the ef_construction nearest of the dead ones' links.  Its own links
	 * all compete: the long ones join clusters on layer 0 (cut to the
	 * nearest, 40 inserts after a VACUUM cut most of layer 0 off).
	 */
	qsort(candidates + nown, n - nown, sizeof(HnswCandidate), HnswCompareCandidates);
	n = nown + Min(n - nown, vs->info->ef_construction);
	if (twin >= 0)
	{
		chain = is_dead(vs, links[twin]) ? next_live_twin(vs, self, links[twin], hop) : links[twin];
		if (chain != HNSW_NO_REF)
			add_candidate(vs, self, chain, candidates, &n);
	}
	if (layer == 0)
		n = keep_chain_twin(vs, self, candidates, n, chain);
	qsort(candidates, n, sizeof(HnswCandidate), HnswCompareCandidates);
	n = HnswSelectNeighbors(candidates, n, HnswLayerSlots(layer, m), vs->info,
							&hnsw_disk_pair_ops, &vs->graph, kept, NULL);
	for (int i = 0; i < n; i++)
		out[i] = kept[i].ref;
	return n;
}

/*
 * Rewrite the lists of one live element that link to dead ones.  Inserts
 * run meanwhile: a list one of them changed while we chose its new links
 * is read and chosen again.
 */
static void
repair_element(HnswVacuumState *vs, HnswRef self)
{
	HnswVisitEntry *entry;
	ItemPointerData neighbortid;
	int			level;
	int			m = vs->info->m;
	HnswRef    *current = palloc(sizeof(HnswRef) * 2 * m);
	HnswRef    *links = palloc(sizeof(HnswRef) * 2 * m);

	/* copy what we need: visit entries move as the graph's hash grows */
	if (HnswDiskGraphKey(&vs->graph, self) == NULL)
		return;
	entry = HnswDiskGraphEntry(&vs->graph, self);
	neighbortid = entry->neighbortid;
	level = entry->level;

	for (int layer = level; layer >= 0; layer--)
	{
		for (;;)
		{
			int			ncurrent = HnswDiskGraphNeighbors(&vs->graph, self, layer, current);
			int			n = repair_layer(vs, self, layer, current, ncurrent, links);

			if (n < 0 ||
				HnswWriteLayerIfUnchanged(&vs->graph, false, &neighbortid, layer,
										  current, ncurrent, links, n) != HNSW_LIST_CHANGED)
				break;
			CHECK_FOR_INTERRUPTS();
		}
	}
}

/* Pass 2: every live element that links to a dead one is repaired. */
static void
repair_graph(HnswVacuumState *vs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	MemoryContext repair_cxt = AllocSetContextCreate(CurrentMemoryContext,
													 "Hnsw vacuum repair context",
													 ALLOCSET_DEFAULT_SIZES);

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		HnswRef    *elements;
		int			nelements = 0;
		Page		page;
		MemoryContext old;

		vacuum_delay_point();
		old = MemoryContextSwitchTo(repair_cxt);
		HnswDiskGraphInit(&vs->graph, vs->index, true);
		page = HnswDiskGraphLockPage(&vs->graph, blkno);
		elements = palloc(sizeof(HnswRef) * Max(PageGetMaxOffsetNumber(page), 1));
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			HnswElementTuple element = HnswPageGetElement(vs->index, blkno, page, off);
			ItemPointerData tid;

			ItemPointerSet(&tid, blkno, off);
			if (element != NULL && !element->deleted && !is_dead(vs, HnswTidToRef(&tid)))
				elements[nelements++] = HnswTidToRef(&tid);
		}
		LockBuffer(vs->graph.buffer, BUFFER_LOCK_UNLOCK);
		for (int i = 0; i < nelements; i++)
			repair_element(vs, elements[i]);
		/* keys copied for this page's repairs are not needed again soon */
		HnswDiskGraphRelease(&vs->graph);
		MemoryContextSwitchTo(old);
		MemoryContextReset(repair_cxt);
	}
	MemoryContextDelete(repair_cxt);
}

/* ---------------------------------------------------------------------
 * Pass 2, second part: elements the repair left unreachable
 * ---------------------------------------------------------------------
 */

typedef struct HnswReconnect
{
	HnswVacuumState *vs;
	HnswDiskGraph walk;			/* keeps no keys: it reads every element */
	struct hnswwalk_hash *reach;
	HnswRef    *stack;
	int64		nstack;
	int64		capacity;
	HnswRef    *links;			/* scratch, 2m slots */
	HnswRef    *orphan_links;	/* layer 0 of the orphan being reconnected */
	int			norphan_links;
	MemoryContext cxt;			/* the pass's */
	MemoryContext orphan_cxt;	/* one orphan's */
	MemoryContext caller_cxt;
} HnswReconnect;

static HnswWalkEntry *
reach_entry(HnswReconnect *rc, HnswRef ref)
{
	bool		found;
	HnswWalkEntry *r = hnswwalk_insert(rc->reach, ref, &found);

	if (!found)
	{
		r->reached = false;
	}
	return r;
}

/*
 * Mark start and every live element its layer-0 links lead to reached.
 * Layer 0 only: a scan goes on through layer 0 from where its descent
 * ends, so an element that only upper layers lead to is lost to it.
 */
static void
walk_from(HnswReconnect *rc, HnswRef start)
{
	reach_entry(rc, start)->reached = true;
	rc->stack[rc->nstack++] = start;
	while (rc->nstack > 0)
	{
		HnswRef		ref = rc->stack[--rc->nstack];
		int			n = HnswDiskGraphNeighbors(&rc->walk, ref, 0, rc->links);

		for (int i = 0; i < n; i++)
		{
			HnswWalkEntry *target;

			if (is_dead(rc->vs, rc->links[i]))
				continue;
			target = reach_entry(rc, rc->links[i]);
			if (target->reached)
				continue;
			target->reached = true;
			if (rc->nstack == rc->capacity)
			{
				rc->capacity *= 2;
				rc->stack = repalloc_huge(rc->stack, sizeof(HnswRef) * rc->capacity);
			}
			rc->stack[rc->nstack++] = rc->links[i];
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Of owner's links[0..n), the farthest from owner (with only_shared, the
 * farthest the orphan links to as well); -1 if none.
 */
static int
farthest_link(HnswReconnect *rc, HnswRef owner, const HnswRef *links, int n, bool only_shared)
{
	return HnswFarthestLink(&rc->vs->graph, owner, links, n, rc->orphan_links,
							only_shared ? rc->norphan_links : 0, only_shared);
}

/*
 * Replace owner's layer-0 list, which held current[0..n), by current with
 * slot set to target.  Inserts run meanwhile: false if they changed it.
 */
static HnswListWrite
write_slot(HnswReconnect *rc, HnswRef owner, const HnswRef *current, int n, int slot,
		   HnswRef target)
{
	int			m = rc->vs->info->m;
	ItemPointerData neighbortid = HnswDiskGraphEntry(&rc->vs->graph, owner)->neighbortid;
	HnswRef    *wanted = palloc(sizeof(HnswRef) * 2 * m);

	memcpy(wanted, current, sizeof(HnswRef) * n);
	wanted[slot] = target;
	return HnswWriteLayerIfUnchanged(&rc->vs->graph, false, &neighbortid, 0, current, n,
									 wanted, Max(n, slot + 1));
}

/*
 * Give the orphan a layer-0 link to target: in place of its twin link if
 * target is its twin (a list keeps one), else in a free slot, else in
 * place of its farthest link (nothing reached depends on the links of an
 * orphan).  False if the orphan is gone.
 */
static bool
hand_over(HnswReconnect *rc, HnswRef orphan, HnswRef target)
{
	HnswDiskGraph *graph = &rc->vs->graph;
	HnswRef    *current = palloc(sizeof(HnswRef) * 2 * rc->vs->info->m);

	for (;;)
	{
		int			n = HnswDiskGraphNeighbors(graph, orphan, 0, current);
		int			slot = HnswDiskGraphTwins(graph, orphan, target) ?
			HnswTwinLinkAt(graph, orphan, current, n) : -1;
		HnswListWrite result;

		if (slot < 0)
			slot = n < HnswLayerSlots(0, rc->vs->info->m) ? n :
				farthest_link(rc, orphan, current, n, false);
		result = write_slot(rc, orphan, current, n, slot, target);

		if (result != HNSW_LIST_CHANGED)
		{
			rc->norphan_links = HnswDiskGraphNeighbors(&rc->vs->graph, orphan, 0,
													   rc->orphan_links);
			return result == HNSW_LIST_WRITTEN;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Link near -> orphan on layer 0: in a free slot of near's list, else in
 * place of near's farthest link that the orphan has too, else in place of
 * near's farthest link, which the orphan takes over first (near -> orphan
 * -> it).  Every element reached before stays reached, through the orphan
 * if need be.  (Dropping a link whose target has other in-links is not
 * safe: two elements that only link to each other have one each.  Data
 * where norms dominate distances, such as sparse vectors under L2, make
 * hubs whose full lists hold many such links.)  An orphan that is near's
 * twin goes on near's twin chain instead: near -> orphan -> near's
 * successor on it (or near), as an insert puts a twin.  False if near is
 * gone.
 */
static bool
link_orphan(HnswReconnect *rc, HnswRef near, HnswRef orphan)
{
	HnswDiskGraph *graph = &rc->vs->graph;
	HnswRef    *current = palloc(sizeof(HnswRef) * 2 * rc->vs->info->m);
	bool		twins = HnswDiskGraphTwins(graph, near, orphan);

	for (;;)
	{
		int			n = HnswDiskGraphNeighbors(graph, near, 0, current);
		int			slot = twins ? HnswTwinLinkAt(graph, near, current, n) : -1;
		HnswListWrite result;

		if (twins && !hand_over(rc, orphan, slot >= 0 ? current[slot] : near))
			return false;
		if (slot < 0)
			slot = n < HnswLayerSlots(0, rc->vs->info->m) ? n :
				farthest_link(rc, near, current, n, true);
		if (slot < 0)
		{
			slot = farthest_link(rc, near, current, n, false);
			if (!hand_over(rc, orphan, current[slot]))
				return false;
		}
		result = write_slot(rc, near, current, n, slot, orphan);
		if (result != HNSW_LIST_CHANGED)
			return result == HNSW_LIST_WRITTEN;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Link the first of candidates[0..n) that is reached and live to orphan,
 * then mark what the orphan leads to reached; false if none took it.
 */
static bool
link_from_first(HnswReconnect *rc, HnswRef orphan, const HnswRef *candidates, int n)
{
	for (int i = 0; i < n; i++)
	{
		HnswRef		near = candidates[i];

		if (near == orphan || is_dead(rc->vs, near) || !reach_entry(rc, near)->reached)
			continue;
		if (link_orphan(rc, near, orphan))
		{
			walk_from(rc, orphan);
			return true;
		}
	}
	return false;
}

/*
 * Give orphan a link from a reached element near it: one it links to
 * itself, or else the nearest reached element a search from the entry
 * point finds for its vector, else the entry point; then mark what it
 * leads to reached.  Its
 * own links come first because they cost no search, and an orphan
 * usually has them: under inner product most elements of some data are
 * nobody's neighbour (thousands in 20,000 rows), while their own lists
 * lead to the few elements of large norm that everyone's do.
 */
static void
reconnect(HnswReconnect *rc, HnswRef orphan, const HnswMetaPageData *meta)
{
	HnswVacuumState *vs = rc->vs;
	HnswDiskGraph *graph = &vs->graph;
	int			ef = vs->info->ef_construction;
	HnswCandidate *found;
	HnswRef    *refs;
	const void *key = HnswDiskGraphKey(graph, orphan);
	const char *stored;
	char	   *copy;
	HnswSearch	search;
	int			n;

	if (key == NULL)
		return;
	rc->norphan_links = HnswDiskGraphNeighbors(graph, orphan, 0, rc->orphan_links);
	/* the reset below forgets the graph's keys: search with a copy */
	stored = (const char *) key - offsetof(Vector, x);
	copy = palloc(HnswStoredKeySize(vs->info, stored));
	memcpy(copy, stored, HnswStoredKeySize(vs->info, stored));
	HnswDiskGraphReset(graph, copy + offsetof(Vector, x));

	/* linking changes the orphan's own list: try a copy of it */
	refs = palloc(sizeof(HnswRef) * Max(rc->norphan_links, ef + 1));
	memcpy(refs, rc->orphan_links, sizeof(HnswRef) * rc->norphan_links);
	if (link_from_first(rc, orphan, refs, rc->norphan_links))
		return;

	HnswSearchInit(&search, &hnsw_disk_graph_ops, graph, vs->info->m);
	if (!HnswSearchStart(&search, HnswTidToRef((ItemPointer) &meta->entry), meta->entry_level))
		return;
	for (int layer = meta->entry_level; layer > 0; layer--)
	{
		HnswSearchLayer(&search, 1, layer);
		HnswSearchRestart(&search, layer - 1);
	}
	HnswSearchLayer(&search, ef, 0);
	found = palloc(sizeof(HnswCandidate) * (ef + 1));
	n = HnswSortedResults(&search, found);
	for (int i = 0; i < n; i++)
		refs[i] = found[i].ref;
	if (link_from_first(rc, orphan, refs, n))
		return;

	/*
	 * The descent led to the orphan's own part of layer 0, none of which
	 * the walk reached: the entry point, which it did, takes the link.
	 */
	refs[0] = HnswTidToRef((ItemPointer) &meta->entry);
	link_from_first(rc, orphan, refs, 1);
}

/*
 * Begin a reconnect pass of vs in its own memory context (the caller's
 * current context is left), with nothing reached yet.  False, having
 * done nothing, when the index has no entry point.
 */
static bool
reconnect_begin(HnswReconnect *rc, HnswVacuumState *vs, HnswMetaPageData *meta)
{
	HnswReadMeta(vs->index, meta);
	if (!ItemPointerIsValid(&meta->entry))
		return false;
	rc->cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw vacuum reconnect context",
									ALLOCSET_DEFAULT_SIZES);
	rc->caller_cxt = MemoryContextSwitchTo(rc->cxt);
	rc->orphan_cxt = AllocSetContextCreate(rc->cxt, "Hnsw reconnect orphan context",
										   ALLOCSET_DEFAULT_SIZES);
	rc->vs = vs;
	HnswDiskGraphInit(&rc->walk, vs->index, false);
	HnswDiskGraphInit(&vs->graph, vs->index, true);
	rc->reach = hnswwalk_create(rc->cxt, 1024, NULL);
	rc->capacity = 1024;
	rc->nstack = 0;
	rc->stack = palloc(sizeof(HnswRef) * rc->capacity);
	rc->links = palloc(sizeof(HnswRef) * 2 * vs->info->m);
	rc->orphan_links = palloc(sizeof(HnswRef) * 2 * vs->info->m);
	rc->norphan_links = 0;
	return true;
}

/* Reconnect orphan unless an earlier reconnect made it reached */
static void
reconnect_if_orphan(HnswReconnect *rc, HnswRef orphan, const HnswMetaPageData *meta)
{
	if (reach_entry(rc, orphan)->reached)
		return;
	/*
	 * a search's keys and lists go with it (thousands of orphans are
	 * possible); the graph must forget the keys
	 */
	MemoryContextSwitchTo(rc->orphan_cxt);
	reconnect(rc, orphan, meta);
	MemoryContextSwitchTo(rc->cxt);
	HnswDiskGraphReset(&rc->vs->graph, NULL);
	MemoryContextReset(rc->orphan_cxt);
}

static void
reconnect_end(HnswReconnect *rc)
{
	HnswDiskGraphRelease(&rc->walk);
	HnswDiskGraphRelease(&rc->vs->graph);
	MemoryContextSwitchTo(rc->caller_cxt);
	MemoryContextDelete(rc->cxt);
}

/*
 * Walk the graph from the entry point, then reconnect the live elements
 * the walk did not reach, page by page.
 */
static void
reconnect_orphans(HnswVacuumState *vs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	HnswMetaPageData meta;
	HnswReconnect rc;

	if (!reconnect_begin(&rc, vs, &meta))
		return;
	walk_from(&rc, HnswTidToRef(&meta.entry));
	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Page		page = HnswDiskGraphLockPage(&rc.walk, blkno);
		HnswRef    *orphans = palloc(sizeof(HnswRef) * Max(PageGetMaxOffsetNumber(page), 1));
		int			norphans = 0;

		for (OffsetNumber off = FirstOffsetNumber;
			 !PageIsNew(page) && off <= PageGetMaxOffsetNumber(page); off++)
		{
			HnswElementTuple element = HnswPageGetElement(vs->index, blkno, page, off);
			ItemPointerData tid;

			ItemPointerSet(&tid, blkno, off);
			if (element != NULL && !element->deleted && !is_dead(vs, HnswTidToRef(&tid)) &&
				!reach_entry(&rc, HnswTidToRef(&tid))->reached)
				orphans[norphans++] = HnswTidToRef(&tid);
		}
		LockBuffer(rc.walk.buffer, BUFFER_LOCK_UNLOCK);
		for (int i = 0; i < norphans; i++)
			reconnect_if_orphan(&rc, orphans[i], &meta);
		pfree(orphans);
		vacuum_delay_point();
	}
	reconnect_end(&rc);
}

/* Move the entry point to a live element when it is dead. */
static void
replace_entry_point(HnswVacuumState *vs)
{
	Buffer		metabuf = ReadBuffer(vs->index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;
	AnnEdit		edit;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(BufferGetPage(metabuf));
	if (ItemPointerIsValid(&meta->entry) && is_dead(vs, HnswTidToRef(&meta->entry)))
	{
		AnnEditBegin(&edit, vs->index, false);
		meta = (HnswMetaPage) PageGetContents(AnnEditRegister(&edit, metabuf, false));
		if (vs->best_live != HNSW_NO_REF)
		{
			HnswRefToTid(vs->best_live, &meta->entry);
			meta->entry_level = vs->best_live_level;
		}
		else
		{
			ItemPointerSetInvalid(&meta->entry);
			meta->entry_level = -1;
		}
		AnnEditFinish(&edit);
	}
	UnlockReleaseBuffer(metabuf);
}

/* Pass 3: dead elements become deleted, free for inserts to reuse. */
static void
free_dead_elements(HnswVacuumState *vs)
{
	BlockNumber lowest = InvalidBlockNumber;
	Buffer		metabuf;
	HnswMetaPage meta;
	AnnEdit		edit;

	for (int i = 0; i < vs->ndead; i++)
	{
		ItemPointerData tid;
		Buffer		buffer;
		Buffer		nbuffer = InvalidBuffer;
		HnswElementTuple element;
		HnswNeighborTuple neighbors;
		Page		page;

		HnswRefToTid(vs->dead[i], &tid);
		buffer = ReadBuffer(vs->index, ItemPointerGetBlockNumber(&tid));
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		AnnEditBegin(&edit, vs->index, false);
		page = AnnEditRegister(&edit, buffer, false);
		element = HnswPageGetElement(vs->index, ItemPointerGetBlockNumber(&tid), page,
									 ItemPointerGetOffsetNumber(&tid));
		element->deleted = 1;
		if (ItemPointerGetBlockNumber(&element->neighbortid) != ItemPointerGetBlockNumber(&tid))
		{
			nbuffer = AnnReadLinkedBuffer(vs->index, ItemPointerGetBlockNumber(&element->neighbortid),
										  vs->graph.info->known_nblocks, NULL);
			LockBuffer(nbuffer, BUFFER_LOCK_EXCLUSIVE);
			page = AnnEditRegister(&edit, nbuffer, false);
		}
		neighbors = HnswPageGetNeighbors(vs->index, ItemPointerGetBlockNumber(&element->neighbortid), page,
										 ItemPointerGetOffsetNumber(&element->neighbortid));
		if (neighbors != NULL)
			for (int s = 0; s < neighbors->nslots; s++)
				ItemPointerSetInvalid(&neighbors->slots[s]);
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
		if (!BlockNumberIsValid(lowest) || ItemPointerGetBlockNumber(&tid) < lowest)
			lowest = ItemPointerGetBlockNumber(&tid);
	}

	metabuf = ReadBuffer(vs->index, ANN_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	AnnEditBegin(&edit, vs->index, false);
	meta = (HnswMetaPage) PageGetContents(AnnEditRegister(&edit, metabuf, false));
	if (!BlockNumberIsValid(meta->insert_page) || lowest < meta->insert_page)
		meta->insert_page = lowest;
	AnnEditFinish(&edit);
	UnlockReleaseBuffer(metabuf);
}

static void
vacuum_state_init(HnswVacuumState *vs, IndexVacuumInfo *info)
{
	vs->index = info->index;
	vs->vinfo = info;
	vs->info = HnswGetIndexInfo(info->index);
	vs->dead_capacity = 256;
	vs->dead = palloc(sizeof(HnswRef) * vs->dead_capacity);
	vs->ndead = 0;
	vs->best_live = HNSW_NO_REF;
	vs->best_live_level = -1;
}

IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	HnswVacuumState vs;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	vacuum_state_init(&vs, info);
	stats->num_index_tuples = 0;

	remove_dead_tuples(&vs, callback, callback_state, stats);
	if (vs.ndead > 0)
	{
		/*
		 * Inserts under way may still link to elements pass 1 found dead;
		 * the ones that start later do not (they skip dead elements).  Wait
		 * for the former, and move the entry point off a dead element
		 * while no insert can move it too.
		 */
		LockPage(vs.index, HNSW_UPDATE_LOCK, ExclusiveLock);
		replace_entry_point(&vs);
		UnlockPage(vs.index, HNSW_UPDATE_LOCK, ExclusiveLock);
		repair_graph(&vs);
	}
	reconnect_orphans(&vs);
	if (vs.ndead > 0)
	{
		LockPage(vs.index, HNSW_UPDATE_LOCK, ExclusiveLock);
		free_dead_elements(&vs);
		UnlockPage(vs.index, HNSW_UPDATE_LOCK, ExclusiveLock);
	}
	stats->num_pages = RelationGetNumberOfBlocks(vs.index);
	return stats;
}

/*
 * A VACUUM that found no dead row to remove still reconnects elements no
 * link leads to: concurrent inserts can leave some (an insert that prunes
 * another element's last in-link).
 */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		HnswVacuumState vs;

		vacuum_state_init(&vs, info);
		reconnect_orphans(&vs);
		return NULL;
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}

/* The state of a build's reconnect pass, which has no VACUUM behind it */
static void
build_vacuum_state(Relation index, IndexVacuumInfo *info, HnswVacuumState *vs)
{
	memset(info, 0, sizeof(*info));
	info->index = index;
	vacuum_state_init(vs, info);
}

/*
 * At the end of a build: give a link to every element that no link leads
 * to, as VACUUM does.  Neighbour selection can prune an element from
 * every list that held it, so a build leaves some (8 of 10,000 clustered
 * vector(32) rows at m = 8), which a search from the entry point never
 * finds.  The caller holds the build's lock; the pages are written.
 */
void
HnswLinkOrphans(Relation index)
{
	IndexVacuumInfo info;
	HnswVacuumState vs;

	build_vacuum_state(index, &info, &vs);
	reconnect_orphans(&vs);
}

/*
 * HnswLinkOrphans for a build that walked its graph in memory before it
 * wrote it: the walk reached reached[0..nreached) and not
 * orphans[0..norphans), which alone are read.
 */
void
HnswLinkKnownOrphans(Relation index, const ItemPointerData *reached, int64 nreached,
					 const ItemPointerData *orphans, int64 norphans)
{
	IndexVacuumInfo info;
	HnswVacuumState vs;
	HnswMetaPageData meta;
	HnswReconnect rc;

	if (norphans == 0)
		return;
	build_vacuum_state(index, &info, &vs);
	if (!reconnect_begin(&rc, &vs, &meta))
		return;
	for (int64 i = 0; i < nreached; i++)
		reach_entry(&rc, HnswTidToRef((ItemPointer) &reached[i]))->reached = true;
	for (int64 i = 0; i < norphans; i++)
	{
		reconnect_if_orphan(&rc, HnswTidToRef((ItemPointer) &orphans[i]), &meta);
		CHECK_FOR_INTERRUPTS();
	}
	reconnect_end(&rc);
}
