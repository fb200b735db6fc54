/*
 * hnswinsert.c
 *		aminsert for hnsw, and the on-disk insert a spilling build uses.
 *
 * An insert (see README, "Locking" and "WAL") searches the graph for the
 * new element's neighbours holding no buffer lock for longer than one
 * tuple read, writes the element and its neighbour tuple in one WAL
 * record, then adds the reverse links one neighbour tuple at a time, and
 * last moves the entry point if the new element is higher.  Each step
 * leaves a graph that readers can use.
 *
 * Heavyweight lock: HNSW_UPDATE_LOCK in share mode, or exclusive when the
 * new element may become the entry point (or the index is empty), so
 * that entry point changes are serialised.  A build holds none: nobody
 * else sees the index.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "hnsw.h"

/* search effort for the cheap duplicate probe of an unchanged UPDATE */
#define HNSW_UNCHANGED_EF		8

typedef struct HnswInsertState
{
	Relation	index;
	const HnswIndexInfo *info;
	bool		building;
	Datum		key;			/* prepared key, varlena */
	const void *elements;		/* its elements */
	Size		esize;			/* bytes of its element tuple */
	ItemPointerData heaptid;
	int			level;
	HnswDiskGraph graph;
	HnswSearch	search;
	HnswCandidate *found;		/* after find_neighbors: layer 0's results */
	int			nfound;
	int			max_ef;			/* largest ef found has room for */
	HnswCandidate *selected[HNSW_MAX_LEVEL + 1];
	/* per layer: links of the new element that others now depend on */
	HnswRef    *relied[HNSW_MAX_LEVEL + 1];
	int			nrelied[HNSW_MAX_LEVEL + 1];
	/* links this insert's writes gave up: dropped_from[i] -> dropped_to[i] */
	HnswRef    *dropped_from;
	HnswRef    *dropped_to;
	int			ndropped;
	int			dropped_capacity;
	int			nselected[HNSW_MAX_LEVEL + 1];
} HnswInsertState;

/*
 * Keep the first n found that are not dead.  VACUUM, after its pass 1
 * found them dead, waits for the inserts under way and then repairs and
 * frees them while later inserts run: those must not link to them.
 */
static int
drop_dead(HnswInsertState *is, int n)
{
	int			kept = 0;

	for (int i = 0; i < n; i++)
		if (!HnswDiskGraphEntry(&is->graph, is->found[i].ref)->dead)
			is->found[kept++] = is->found[i];
	return kept;
}

/*
 * Search from the entry point down to layer 0, choosing the new
 * element's neighbours on each of its layers; layer 0's results stay in
 * is->found, nearest first.  A search returns up to ef results, so ef
 * must not exceed is->max_ef.  False if the entry point is unusable.
 */
static bool
find_neighbors(HnswInsertState *is, const HnswMetaPageData *meta, int ef)
{
	int			top = Min(is->level, meta->entry_level);
	HnswRef		entry = HnswTidToRef((ItemPointer) &meta->entry);

	Assert(ef <= is->max_ef);
	HnswDiskGraphReset(&is->graph, is->elements);
	if (!HnswSearchDescend(&is->search, entry, meta->entry_level, top))
		return false;
	for (int layer = top; layer >= 0; layer--)
	{
		int			nfound = HnswSearchCandidates(&is->search, ef, layer, is->found);

		nfound = drop_dead(is, nfound);
		is->nfound = nfound;
		is->nselected[layer] = HnswSelectLayer(is->info, layer, is->found, nfound,
											   &hnsw_disk_pair_ops, &is->graph,
											   is->selected[layer], NULL);
	}
	return true;
}

/* Add heaptid to an existing element with a free slot; false if none. */
static bool
add_heaptid(HnswInsertState *is, HnswRef ref)
{
	ItemPointerData tid;
	Buffer		buffer;
	HnswElementTuple element;
	bool		added = false;

	HnswRefToTid(ref, &tid);
	buffer = ReadBuffer(is->index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	element = HnswPageGetElement(is->index, ItemPointerGetBlockNumber(&tid), BufferGetPage(buffer),
								 ItemPointerGetOffsetNumber(&tid));

	/*
	 * An element without a live heap TID is dead: VACUUM (pass 1, under
	 * this same buffer lock) found it so and will free it, TIDs and all.
	 */
	if (element != NULL && !element->deleted &&
		ItemPointerIsValid(&element->heaptids[0]) &&
		HnswSameStoredKey(is->info,
						  HnswElementStoredKey(is->index, is->info, element, is->graph.scratch),
						  DatumGetPointer(is->key)))
	{
		for (int i = 0; i < HNSW_HEAPTIDS && !added; i++)
		{
			if (!ItemPointerIsValid(&element->heaptids[i]))
			{
				AnnEdit		edit;
				Page		page;

				AnnEditBegin(&edit, is->index, is->building);
				page = AnnEditRegister(&edit, buffer, false);
				element = HnswPageGetElement(is->index, ItemPointerGetBlockNumber(&tid), page,
											 ItemPointerGetOffsetNumber(&tid));
				element->heaptids[i] = is->heaptid;
				AnnEditFinish(&edit);
				added = true;
			}
		}
	}
	UnlockReleaseBuffer(buffer);
	return added;
}

/* The first of found[from..) with the new element's vector, or -1 */
static int
find_copy(HnswInsertState *is, int from)
{
	return HnswFindCopy(is->info, &hnsw_disk_pair_ops, &is->graph, DatumGetPointer(is->key),
						is->found, is->nfound, from);
}

/* Join an element with the same key that has room (add_heaptid compares the keys). */
static bool
join_twin(HnswInsertState *is)
{
	for (int i = find_copy(is, 0); i >= 0; i = find_copy(is, i + 1))
		if (add_heaptid(is, is->found[i].ref))
			return true;
	return false;
}

/* The two tuples of the new element, with its chosen neighbours. */
static void
form_tuples(HnswInsertState *is, HnswElementTuple etup, HnswNeighborTuple ntup)
{
	int			m = is->info->m;

	HnswFormElementTuple(is->info, etup, is->level, DatumGetPointer(is->key), InvalidBlockNumber,
						 &is->heaptid, 1);
	HnswFormNeighborTuple(is->info, ntup, is->level);
	for (int layer = 0; layer <= is->level; layer++)
		for (int i = 0; i < is->nselected[layer]; i++)
			HnswRefToTid(is->selected[layer][i].ref,
						 &ntup->slots[HnswLayerStart(layer, m) + i]);
	if (is->info->codes != NULL)
	{
		int			n = is->nselected[0];
		HnswRef    *refs = palloc(sizeof(HnswRef) * Max(n, 1));
		HnswSlotCode *codes;

		for (int i = 0; i < n; i++)
			refs[i] = is->selected[0][i].ref;
		codes = HnswCodesOf(&is->graph, refs, n, NULL, 0);
		HnswSetSlotCodes(is->info, ntup, codes, n);
		pfree(codes);
		pfree(refs);
	}
}

/*
 * Overwrite a deleted element of this page whose neighbour tuple is on
 * the same page and has enough slots, and whose room (with the page's
 * free space, when sparse keys differ in size) takes esize bytes.
 * Returns the element's offset, or InvalidOffsetNumber.
 */
static OffsetNumber
reuse_deleted(Relation index, BlockNumber blkno, Page page, int level, int m, Size esize)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	BlockNumber nblkno = InvalidBlockNumber;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HnswElementTuple element = HnswPageGetElement(index, blkno, page, off);
		HnswNeighborTuple neighbors;

		if (element == NULL || !element->deleted ||
			ItemIdGetLength(PageGetItemId(page, off)) + PageGetExactFreeSpace(page) < esize)
			continue;
		if (nblkno == InvalidBlockNumber)
			nblkno = ItemPointerGetBlockNumber(&element->neighbortid);
		if (ItemPointerGetBlockNumber(&element->neighbortid) != nblkno)
			continue;
		neighbors = HnswPageGetNeighbors(index, blkno, page,
										 ItemPointerGetOffsetNumber(&element->neighbortid));
		if (neighbors != NULL && neighbors->nslots >= HnswSlotCount(level, m))
			return off;
	}
	return InvalidOffsetNumber;
}

/*
 * Put the tuples on page (registered in an edit), reusing a deleted slot
 * or adding them; returns false if they do not fit.  *etid is set.
 */
static bool
put_on_page(HnswInsertState *is, Page page, BlockNumber blkno, HnswElementTuple etup,
			HnswNeighborTuple ntup, ItemPointer etid)
{
	Size		esize = is->esize;
	Size		nsize = HnswNeighborTupleSize(is->info, is->level);
	OffsetNumber off = reuse_deleted(is->index, blkno, page, is->level, is->info->m, esize);

	if (off != InvalidOffsetNumber)
	{
		HnswElementTuple old = HnswPageGetElement(is->index, blkno, page, off);
		HnswNeighborTuple oldn = HnswPageGetNeighbors(is->index, blkno, page,
													  ItemPointerGetOffsetNumber(&old->neighbortid));
		uint16		nslots = oldn->nslots;

		etup->neighbortid = old->neighbortid;
		memcpy(oldn, ntup, HNSW_NEIGHBOR_SLOTS_SIZE(ntup->nslots));
		for (int i = ntup->nslots; i < nslots; i++)
			ItemPointerSetInvalid(&oldn->slots[i]);
		oldn->nslots = nslots;
		/* the codes follow the slots, which may be more than the new level has */
		if (is->info->codes != NULL)
			memcpy(HnswSlotCodes(is->info, oldn, 0), HnswSlotCodes(is->info, ntup, 0),
				   HnswCodesSize(is->info));
		/* last: a tuple of another size moves the tuples below it */
		if (!PageIndexTupleOverwrite(page, off, (Item) etup, esize))
			elog(ERROR, "failed to overwrite hnsw element in index \"%s\"",
				 RelationGetRelationName(is->index));
		ItemPointerSet(etid, blkno, off);
		return true;
	}
	if (PageGetFreeSpaceForMultipleTuples(page, 2) < esize + nsize)
		return false;

	/* the element goes first, so its neighbour tuple is the next offset */
	off = PageGetMaxOffsetNumber(page) + 1;
	ItemPointerSet(&etup->neighbortid, blkno, off + 1);
	if (PageAddItem(page, (Item) etup, esize, InvalidOffsetNumber, false, false) != off ||
		PageAddItem(page, (Item) ntup, nsize, InvalidOffsetNumber, false, false) != off + 1)
		elog(ERROR, "failed to add hnsw tuples to index \"%s\"", RelationGetRelationName(is->index));
	ItemPointerSet(etid, blkno, off);
	return true;
}

/*
 * Write the new element's long key to key pages and point etup at them:
 * the chain from rewrite (of the deleted element whose slot it takes,
 * whose page the caller holds exclusively, as readers of a key hold its
 * element's page), or a new chain.
 */
static void
write_long_key(HnswInsertState *is, BlockNumber rewrite, HnswElementTuple etup)
{
	AnnSetLongKeyPage(etup->key, AnnWriteLongKey(is->index, is->building, ANN_HNSW_PAGE_ID,
												 HNSW_PAGE_KEY, DatumGetPointer(is->key),
												 is->info->long_keysize, rewrite));
}

/*
 * The key chain of the deleted element of page (exclusively locked) whose
 * slot put_on_page will give the new element, or InvalidBlockNumber
 */
static BlockNumber
reused_key_page(HnswInsertState *is, BlockNumber blkno, Page page)
{
	OffsetNumber off = reuse_deleted(is->index, blkno, page, is->level, is->info->m, is->esize);

	if (off == InvalidOffsetNumber)
		return InvalidBlockNumber;
	return AnnLongKeyPage(HnswPageGetElement(is->index, blkno, page, off)->key);
}

/* Record in the metapage (locked after data pages) where inserts go now. */
static void
set_insert_page(HnswInsertState *is, AnnEdit *edit, BlockNumber blkno)
{
	Buffer		metabuf = ReadBuffer(is->index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(AnnEditRegister(edit, metabuf, false));
	meta->insert_page = blkno;
}

/* Can page take the new element, in a deleted slot or in free space? */
static bool
has_room(HnswInsertState *is, BlockNumber blkno, Page page)
{
	Size		nsize = HnswNeighborTupleSize(is->info, is->level);

	if (PageIsNew(page) || !(AnnPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENTS))
		return false;			/* not a page of elements (the signature directory) */
	return PageGetFreeSpaceForMultipleTuples(page, 2) >= is->esize + nsize ||
		reuse_deleted(is->index, blkno, page, is->level, is->info->m, is->esize) !=
		InvalidOffsetNumber;
}

/*
 * Write the new element: on the first page from the insert page on that
 * has room, else on a new page.  An element too large to share a page
 * with its neighbour tuple gets two new pages.
 */
static void
write_element(HnswInsertState *is, BlockNumber insert_page, ItemPointer etid)
{
	Size		esize = is->esize;
	Size		nsize = HnswNeighborTupleSize(is->info, is->level);
	HnswElementTuple etup = palloc(esize);
	HnswNeighborTuple ntup = palloc(nsize);
	BlockNumber nblocks = RelationGetNumberOfBlocks(is->index);
	bool		together = esize + nsize + 2 * sizeof(ItemIdData) <=
		BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(AnnPageOpaqueData));
	AnnEdit		edit;
	Buffer		buffer;
	Page		page;

	form_tuples(is, etup, ntup);
	if (!BlockNumberIsValid(insert_page) || insert_page == ANN_METAPAGE_BLKNO)
		insert_page = ANN_METAPAGE_BLKNO + 1;

	for (BlockNumber blkno = insert_page; together && blkno < nblocks; blkno++)
	{
		buffer = ReadBuffer(is->index, blkno);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		if (has_room(is, blkno, BufferGetPage(buffer)))
		{
			if (is->info->long_keysize > 0)
				write_long_key(is, reused_key_page(is, blkno, BufferGetPage(buffer)), etup);
			AnnEditBegin(&edit, is->index, is->building);
			page = AnnEditRegister(&edit, buffer, false);
			put_on_page(is, page, blkno, etup, ntup, etid);
			if (blkno != insert_page)
				set_insert_page(is, &edit, blkno);
			AnnEditFinish(&edit);
			AnnEditUnlockRelease(&edit);
			return;
		}
		UnlockReleaseBuffer(buffer);
		CHECK_FOR_INTERRUPTS();
	}

	/* no room anywhere: new page(s), and the long key's before them */
	if (is->info->long_keysize > 0)
		write_long_key(is, InvalidBlockNumber, etup);
	buffer = AnnNewBuffer(is->index, MAIN_FORKNUM);
	AnnEditBegin(&edit, is->index, is->building);
	page = AnnEditRegister(&edit, buffer, true);
	AnnInitPage(page, ANN_HNSW_PAGE_ID, HNSW_PAGE_ELEMENTS);
	if (together)
		put_on_page(is, page, BufferGetBlockNumber(buffer), etup, ntup, etid);
	else
	{
		Buffer		nbuffer = AnnNewBuffer(is->index, MAIN_FORKNUM);
		Page		npage = AnnEditRegister(&edit, nbuffer, true);

		AnnInitPage(npage, ANN_HNSW_PAGE_ID, HNSW_PAGE_ELEMENTS);
		ItemPointerSet(&etup->neighbortid, BufferGetBlockNumber(nbuffer), FirstOffsetNumber);
		if (PageAddItem(page, (Item) etup, esize, InvalidOffsetNumber, false, false) == InvalidOffsetNumber ||
			PageAddItem(npage, (Item) ntup, nsize, InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
			elog(ERROR, "failed to add hnsw tuples to index \"%s\"",
				 RelationGetRelationName(is->index));
		ItemPointerSet(etid, BufferGetBlockNumber(buffer), FirstOffsetNumber);
	}
	set_insert_page(is, &edit, BufferGetBlockNumber(buffer));
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
}

/* Did a write of this insert give up the link from -> to? */
static bool
was_dropped(HnswInsertState *is, HnswRef from, HnswRef to)
{
	for (int i = 0; i < is->ndropped; i++)
		if (is->dropped_from[i] == from && is->dropped_to[i] == to)
			return true;
	return false;
}

/* Remember the links of current[0..n) that owner's new list wanted[0..nw) gave up. */
static void
note_dropped(HnswInsertState *is, HnswRef owner, const HnswRef *current, int n,
			 const HnswRef *wanted, int nw)
{
	for (int i = 0; i < n; i++)
	{
		if (HnswHoldsRef(wanted, nw, current[i]))
			continue;
		if (is->ndropped == is->dropped_capacity)
		{
			is->dropped_capacity *= 2;
			is->dropped_from = repalloc(is->dropped_from, sizeof(HnswRef) * is->dropped_capacity);
			is->dropped_to = repalloc(is->dropped_to, sizeof(HnswRef) * is->dropped_capacity);
		}
		is->dropped_from[is->ndropped] = owner;
		is->dropped_to[is->ndropped++] = current[i];
	}
}

/*
 * Did this insert's search reach w on layer by a path on that layer (or
 * lower ones) that goes through neither target nor owner, and uses no
 * link the insert has given up since?  Then w stays reachable whatever
 * owner's list drops.  The path is the chain of parents the search
 * recorded, back to where it started the layer; an element the search did
 * not visit on the layer has none.  (A path through upper layers proves
 * nothing on layer 0, where scans search: on rows whose distances are
 * mostly their norms such witnesses left elements unreachable.)
 */
static bool
reached_without(HnswInsertState *is, HnswRef w, HnswRef target, HnswRef owner, int layer)
{
	/*
	 * w where the search started the layer proves nothing by itself: it
	 * came down from the layer above, and on this layer it may be reachable
	 * only through target (two elements that link only to each other).
	 */
	if (HnswDiskGraphEntry(&is->graph, w)->layer > layer ||
		HnswDiskGraphEntry(&is->graph, w)->parent == HNSW_NO_REF)
		return false;
	while (w != HNSW_NO_REF)
	{
		HnswRef		parent = HnswDiskGraphEntry(&is->graph, w)->parent;

		if (w == target || w == owner ||
			(parent != HNSW_NO_REF && was_dropped(is, parent, w)))
			return false;
		w = parent;
	}
	return true;
}

/*
 * Does an element other than owner, reachable without target, link to
 * target on layer?  Only the first HNSW_WITNESSES of target's own
 * neighbours the search reached that way are asked (links are mostly
 * mutual), so false means "not known", not "none".  (A neighbour that
 * links back is no proof alone: two elements that only link to each
 * other are each other's witness; on rows whose norms dominate L2
 * distances such pairs left most inserted elements unreachable.)
 */
static bool
has_witness(HnswInsertState *is, HnswRef target, HnswRef owner, int layer)
{
	int			slots = HnswLayerSlots(layer, is->info->m);
	HnswRef    *links = palloc(sizeof(HnswRef) * slots);
	HnswRef    *theirs = palloc(sizeof(HnswRef) * slots);
	int			nlinks = HnswDiskGraphNeighbors(&is->graph, target, layer, links);
	int			asked = 0;
	bool		found = false;

	for (int i = 0; i < nlinks && asked < HNSW_WITNESSES && !found; i++)
	{
		int			ntheirs;

		if (links[i] == owner || HnswDiskGraphEntry(&is->graph, links[i])->dead ||
			!reached_without(is, links[i], target, owner, layer))
			continue;
		asked++;
		ntheirs = HnswDiskGraphNeighbors(&is->graph, links[i], layer, theirs);
		found = HnswHoldsRef(theirs, ntheirs, target);
	}
	pfree(links);
	pfree(theirs);
	return found;
}

/* The neighbour TID of an element the graph has read, or false if it is gone. */
static bool
neighbor_tid_of(HnswInsertState *is, HnswRef ref, ItemPointer neighbortid)
{
	/* copied out: visit entries move when the graph's hash grows */
	if (!HnswDiskGraphEntry(&is->graph, ref)->read)
		return false;
	*neighbortid = HnswDiskGraphEntry(&is->graph, ref)->neighbortid;
	return true;
}

/*
 * Does the new element link to target on layer, or take a link to it, in
 * a free slot or (with replace) in place of a link nothing depends on?
 * Then a list that drops target for the new element leaves it reachable
 * through the new element, and target's link is not given up again.
 */
static bool
new_element_takes(HnswInsertState *is, HnswRef new_ref, HnswRef target, int layer, bool replace)
{
	int			slots = HnswLayerSlots(layer, is->info->m);
	HnswRef    *current = palloc(sizeof(HnswRef) * slots);
	HnswRef    *wanted = palloc(sizeof(HnswRef) * slots);
	ItemPointerData neighbortid;

	for (;;)
	{
		int			n = HnswDiskGraphNeighbors(&is->graph, new_ref, layer, current);
		int			slot = n < slots ? n : -1;
		HnswListWrite result = HNSW_LIST_WRITTEN;

		/* else its farthest link nothing depends on (it was unreachable until now) */
		if (slot < 0 && replace)
			slot = HnswFarthestLink(&is->graph, new_ref, current, n, is->relied[layer],
									is->nrelied[layer], false);
		if (!HnswHoldsRef(current, n, target))
		{
			if (slot < 0 || !neighbor_tid_of(is, new_ref, &neighbortid))
				return false;
			memcpy(wanted, current, sizeof(HnswRef) * n);
			wanted[slot] = target;
			result = HnswWriteLayerIfUnchanged(&is->graph, is->building, &neighbortid, layer,
											   current, n, wanted, Max(n, slot + 1));
		}
		if (result == HNSW_LIST_WRITTEN && !HnswHoldsRef(is->relied[layer], is->nrelied[layer], target))
			is->relied[layer][is->nrelied[layer]++] = target;
		if (result != HNSW_LIST_CHANGED)
			return result == HNSW_LIST_WRITTEN;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * May owner's list on layer drop its link to target for the new element?
 * Safe when the new element links to target (it takes the link if it has
 * room); else a witness is the best guess, and a wrong one where the
 * witness is reachable only through target (on rows whose norms dominate
 * L2 distances such pairs are common).
 */
static bool
may_drop(HnswInsertState *is, HnswRef target, HnswRef owner, HnswRef new_ref, int layer)
{
	return new_element_takes(is, new_ref, target, layer, false) ||
		has_witness(is, target, owner, layer);
}

/*
 * Is c a twin of an element of kept[0..n)?  Twins stay reachable by
 * their chain (see chain_twin), and a list links one twin at most.
 */
static bool
twin_of_kept(HnswInsertState *is, const HnswCandidate *kept, int n, HnswRef c)
{
	for (int i = 0; i < n; i++)
		if (HnswDiskGraphTwins(&is->graph, kept[i].ref, c))
			return true;
	return false;
}

/*
 * The heuristic drops links; a dropped link may be the only one leading
 * to its element.  Keep, after kept[0..nkept), each dropped candidate no
 * witness is known for; if the list then overflows, it keeps them rather
 * than new_ref (the old list fitted, so that is enough).  Returns the
 * new count.
 */
static int
keep_unwitnessed(HnswInsertState *is, HnswRef owner, int layer, const HnswCandidate *candidates,
				 int ncandidates, HnswCandidate *kept, int nkept, HnswRef new_ref)
{
	int			max_links = HnswLayerSlots(layer, is->info->m);
	int			nfirst = nkept;

	for (int i = 0; i < ncandidates; i++)
	{
		bool		was_kept = false;

		if (candidates[i].ref == new_ref)
			continue;
		for (int j = 0; j < nfirst && !was_kept; j++)
			was_kept = kept[j].ref == candidates[i].ref;
		if (!was_kept && !twin_of_kept(is, kept, nkept, candidates[i].ref) &&
			!may_drop(is, candidates[i].ref, owner, new_ref, layer))
			kept[nkept++] = candidates[i];
	}
	if (nkept > max_links)
	{
		int			out = 0;

		for (int j = 0; j < nkept; j++)
			if (kept[j].ref != new_ref)
				kept[out++] = kept[j];
		nkept = out;
	}
	return nkept;
}

/*
 * The links of ref on layer, re-chosen to include new_ref at distance
 * (from ref).  Returns how many; *changed is false when the list would
 * stay as it is.
 */
static int
relink(HnswInsertState *is, HnswRef ref, HnswRef *current, int ncurrent, HnswRef new_ref,
	   float distance, int layer, HnswRef *out)
{
	int			max_links = HnswLayerSlots(layer, is->info->m);
	HnswCandidate *candidates = palloc(sizeof(HnswCandidate) * (ncurrent + 1));
	HnswCandidate *kept = palloc(sizeof(HnswCandidate) * (ncurrent + 1));
	int			n = 0;
	int			nkept;

	if (ncurrent < max_links)
	{
		memcpy(out, current, sizeof(HnswRef) * ncurrent);
		out[ncurrent] = new_ref;
		return ncurrent + 1;
	}
	for (int i = 0; i < ncurrent; i++)
	{
		float		d = HnswDiskGraphPairDistance(&is->graph, ref, current[i]);

		/* a dead link must not crowd out the new one (see drop_dead) */
		if (HnswDiskGraphEntry(&is->graph, current[i])->dead)
			continue;
		candidates[n].ref = current[i];
		candidates[n].distance = d;
		n++;
	}
	nkept = HnswReselectFull(is->info, layer, candidates, n, new_ref, distance,
							 &hnsw_disk_pair_ops, &is->graph, kept, NULL);
	nkept = keep_unwitnessed(is, ref, layer, candidates, n + 1, kept, nkept, new_ref);
	for (int i = 0; i < nkept; i++)
		out[i] = kept[i].ref;
	return nkept;
}

/*
 * Free a slot of owner's full list wanted[0..n) on layer for the new
 * element: drop the farthest link it may drop (may_drop), else the
 * farthest, which the new element takes over if it can.  A link to a twin
 * of owner stays: it is the twin chain's, which no other list replaces
 * (see chain_twin).  Returns the new count.
 */
static int
make_room(HnswInsertState *is, HnswRef owner, HnswRef new_ref, int layer, HnswRef *wanted, int n)
{
	int			drop = -1;

	if (n < HnswLayerSlots(layer, is->info->m))
		return n;
	for (int i = n - 1; i >= 0 && drop < 0; i--)
		if (!HnswDiskGraphTwins(&is->graph, owner, wanted[i]) &&
			may_drop(is, wanted[i], owner, new_ref, layer))
			drop = i;
	if (drop < 0)
	{
		drop = n - 1;
		new_element_takes(is, new_ref, wanted[drop], layer, true);
	}
	memmove(&wanted[drop], &wanted[drop + 1], sizeof(HnswRef) * (n - drop - 1));
	return n - 1;
}

/*
 * Make ref point at the new element on layer.  The list is read, the new
 * one computed with no lock held, and written only if nobody changed it
 * in between; otherwise start over, until it is written: a link given up
 * could leave the new element with none leading to it.  Each round only
 * loses to a writer that finished one, so the loop ends.
 *
 * The heuristic may prefer ref's links as they are; then nothing is
 * written and this returns false, unless force is set, when the new
 * element takes a slot anyway (make_room).
 */
static bool
add_reverse_link(HnswInsertState *is, HnswRef ref, HnswRef new_ref, float distance,
				 int layer, bool force)
{
	int			m = is->info->m;
	HnswRef    *current = palloc(sizeof(HnswRef) * 2 * m);
	HnswRef    *wanted = palloc(sizeof(HnswRef) * (2 * m + 1));
	ItemPointerData neighbortid;

	if (!neighbor_tid_of(is, ref, &neighbortid))
		return false;
	for (;;)
	{
		int			ncurrent = HnswDiskGraphNeighbors(&is->graph, ref, layer, current);
		int			nwanted = relink(is, ref, current, ncurrent, new_ref, distance, layer, wanted);

		if (!HnswHoldsRef(wanted, nwanted, new_ref))
		{
			if (!force)
				return false;
			nwanted = make_room(is, ref, new_ref, layer, wanted, nwanted);
			wanted[nwanted++] = new_ref;
		}
		switch (HnswWriteLayerIfUnchanged(&is->graph, is->building, &neighbortid, layer,
										  current, ncurrent, wanted, nwanted))
		{
			case HNSW_LIST_WRITTEN:
				note_dropped(is, ref, current, ncurrent, wanted, nwanted);
				return true;
			case HNSW_LIST_GONE:
				return false;
			case HNSW_LIST_CHANGED:
				break;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Link the new element into the graph on layer: back links from the
 * neighbours it chose, and from the nearest even where its heuristic
 * would rather not, or nothing would lead to the new element.
 */
static void
link_new_element(HnswInsertState *is, HnswRef new_ref, int layer)
{
	int			nselected = is->nselected[layer];
	bool		linked = false;

	for (int i = 0; i < nselected; i++)
		linked |= add_reverse_link(is, is->selected[layer][i].ref, new_ref,
								   is->selected[layer][i].distance, layer, false);
	if (!linked && nselected > 0)
		add_reverse_link(is, is->selected[layer][0].ref, new_ref,
						 is->selected[layer][0].distance, layer, true);
}

/*
 * In owner's layer-0 list, make the first link to a twin of the new
 * element other than to lead to to instead, and drop any other twin
 * link (all of them if the list links to already): a list must not keep
 * a second twin link that a later re-selection (which keeps one twin)
 * could prefer to the chain's.  Returns where the first such link led
 * before, or HNSW_NO_REF if there was none.
 */
static HnswRef
retarget_twin_link(HnswInsertState *is, HnswRef owner, HnswRef to)
{
	int			m = is->info->m;
	HnswRef    *current = palloc(sizeof(HnswRef) * 2 * m);
	HnswRef    *wanted = palloc(sizeof(HnswRef) * 2 * m);
	ItemPointerData neighbortid;

	/* reading the list reads the element too (the new one was not read) */
	HnswDiskGraphNeighbors(&is->graph, owner, 0, current);
	if (!neighbor_tid_of(is, owner, &neighbortid))
		return HNSW_NO_REF;
	for (;;)
	{
		int			n = HnswDiskGraphNeighbors(&is->graph, owner, 0, current);
		bool		links_to = HnswHoldsRef(current, n, to);
		HnswRef		first = HNSW_NO_REF;
		int			nwanted = 0;

		for (int i = 0; i < n; i++)
		{
			if (current[i] != to && HnswDiskGraphTwins(&is->graph, owner, current[i]))
			{
				if (first == HNSW_NO_REF)
					first = current[i];
				if (links_to)
					continue;
				wanted[nwanted++] = to;
				links_to = true;
			}
			else
				wanted[nwanted++] = current[i];
		}
		if (first == HNSW_NO_REF)
			return HNSW_NO_REF;
		switch (HnswWriteLayerIfUnchanged(&is->graph, is->building, &neighbortid, 0,
										  current, n, wanted, nwanted))
		{
			case HNSW_LIST_WRITTEN:
				return first;
			case HNSW_LIST_GONE:
				return HNSW_NO_REF;
			case HNSW_LIST_CHANGED:
				break;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The new element repeats a vector full elements hold (its twins), and
 * the heuristic links an element to one twin at most: keep twins on a
 * chain, anchor -> new -> the anchor's old successor, so none becomes
 * unreachable.  The anchor is the nearest twin found; the new element's
 * own twin link, to whichever twin its heuristic chose, is what moves to
 * the successor.
 */
static void
chain_twin(HnswInsertState *is, HnswRef new_ref)
{
	int			at = HnswFindTwin(is->info, is->found, is->nfound);
	HnswRef		anchor;
	HnswRef		successor;

	if (at < 0)
		return;
	anchor = is->found[at].ref;
	successor = retarget_twin_link(is, anchor, new_ref);

	/*
	 * An anchor with no twin link yet (the first copy, or one whose full
	 * list kept its unwitnessed links over the new element) must take one
	 * to the new element: the chain is then anchor <-> new, and no other
	 * list takes a twin in place of a link it has at the same distance.
	 */
	if (successor == HNSW_NO_REF)
		add_reverse_link(is, anchor, new_ref, 0, 0, true);
	/* a dead successor is VACUUM's to unlink (see drop_dead) */
	else if (!HnswDiskGraphEntry(&is->graph, successor)->dead)
		retarget_twin_link(is, new_ref, successor);
}

/* Point the metapage at the new element if it is above the entry point. */
static void
update_entry_point(HnswInsertState *is, ItemPointer etid)
{
	Buffer		metabuf = ReadBuffer(is->index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;
	AnnEdit		edit;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = (HnswMetaPage) PageGetContents(BufferGetPage(metabuf));
	if (is->level > meta->entry_level)
	{
		AnnEditBegin(&edit, is->index, is->building);
		meta = (HnswMetaPage) PageGetContents(AnnEditRegister(&edit, metabuf, false));
		meta->entry = *etid;
		meta->entry_level = is->level;
		AnnEditFinish(&edit);
	}
	UnlockReleaseBuffer(metabuf);
}

static void
insert_state_init(HnswInsertState *is, Relation index, Datum key, ItemPointer heaptid,
				  bool building)
{
	int			m;
	int			dim;

	is->index = index;
	is->info = HnswGetIndexInfo(index);
	m = is->info->m;
	is->building = building;
	is->key = key;
	is->elements = AnnKeyElements(&is->info->dist, key, &dim);
	AnnCheckDimensions(is->info->dimensions, dim);
	is->esize = HNSW_ELEMENT_TUPLE_SIZE(HnswTupleKeySize(is->info, DatumGetPointer(key)));
	is->heaptid = *heaptid;
	is->level = HnswRandomLevel(is->info, heaptid);
	HnswDiskGraphInit(&is->graph, index, true);
	HnswSearchInit(&is->search, &hnsw_disk_graph_ops, &is->graph, m);

	/*
	 * Room for the results of either search HnswInsertKey makes: the probe
	 * of an unchanged UPDATE (HNSW_UNCHANGED_EF) or the full one
	 * (ef_construction, which can be as small as 4).
	 */
	is->max_ef = Max(is->info->ef_construction, HNSW_UNCHANGED_EF);
	is->found = palloc(sizeof(HnswCandidate) * (is->max_ef + 1));
	is->nfound = 0;
	for (int layer = 0; layer <= is->level; layer++)
	{
		is->selected[layer] = palloc(sizeof(HnswCandidate) * 2 * m);
		is->nselected[layer] = 0;
		is->relied[layer] = palloc(sizeof(HnswRef) * 2 * m);
		is->nrelied[layer] = 0;
	}
	is->dropped_capacity = 4 * m;
	is->dropped_from = palloc(sizeof(HnswRef) * is->dropped_capacity);
	is->dropped_to = palloc(sizeof(HnswRef) * is->dropped_capacity);
	is->ndropped = 0;
}

/* Register the new element's key so pair distances can use it. */
static void
remember_new_key(HnswInsertState *is, HnswRef ref)
{
	HnswVisitEntry *entry = HnswDiskGraphEntry(&is->graph, ref);

	entry->key = DatumGetPointer(is->key);
}

/*
 * Insert one prepared key (see AnnPrepareKey) for heaptid.  building:
 * called by a build that ran out of memory (no WAL, no locks).
 * unchanged_hint: aminsert's indexUnchanged, an UPDATE that kept the
 * vector, which first tries to join the existing element cheaply.
 */
void
HnswInsertKey(Relation index, Datum key, ItemPointer heaptid, bool building,
			  bool unchanged_hint)
{
	HnswInsertState is;
	HnswMetaPageData meta;
	LOCKMODE	lockmode = ShareLock;
	ItemPointerData etid;

	insert_state_init(&is, index, key, heaptid, building);
	if (!building)
		LockPage(index, HNSW_UPDATE_LOCK, lockmode);
	HnswReadMeta(index, &meta);
	if (!building && is.level > meta.entry_level)
	{
		UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
		lockmode = ExclusiveLock;
		LockPage(index, HNSW_UPDATE_LOCK, lockmode);
		HnswReadMeta(index, &meta);
	}

	if (ItemPointerIsValid(&meta.entry))
	{
		bool		joined = false;

		if (unchanged_hint && find_neighbors(&is, &meta, HNSW_UNCHANGED_EF))
			joined = join_twin(&is);
		if (!joined && find_neighbors(&is, &meta, is.info->ef_construction))
			joined = join_twin(&is);
		if (joined)
		{
			HnswDiskGraphRelease(&is.graph);
			if (!building)
				UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
			return;
		}
	}

	write_element(&is, meta.insert_page, &etid);
	if (!building && is.info->filters.ncolumns > 0)
		HnswAppendSignature(index, &etid, HnswKeySignatures(is.info, DatumGetPointer(key)), false);
	remember_new_key(&is, HnswTidToRef(&etid));
	for (int layer = Min(is.level, meta.entry_level); layer >= 0; layer--)
		link_new_element(&is, HnswTidToRef(&etid), layer);
	chain_twin(&is, HnswTidToRef(&etid));
	if (is.level > meta.entry_level)
		update_entry_point(&is, &etid);

	HnswDiskGraphRelease(&is.graph);
	if (!building)
		UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
}

bool
hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		   Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
		   IndexInfo *indexInfo)
{
	MemoryContext cxt;
	MemoryContext old;
	const HnswIndexInfo *info;
	Datum		key;
	bool		usable;

	if (isnull[0])
		return false;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw insert context",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	info = HnswGetIndexInfo(index);
	key = HnswFormKey(info, values, isnull, &usable);
	if (usable)
		HnswInsertKey(index, key, heap_tid, false, indexUnchanged);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}
