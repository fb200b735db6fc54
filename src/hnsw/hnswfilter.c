/*
 * hnswfilter.c
 *		The signature directory of an hnsw index with filter columns, and
 *		the exact search it allows.
 *
 * A graph search under a selective filter walks through many elements
 * that do not match (the graph is only navigable whole), and one whose
 * matches lie far from the query (a filter anti-correlated with it)
 * walks through most of the graph.  The directory lists every element
 * with the signatures of its filter columns, compactly (about 30 bytes an
 * element instead of a vector), in a chain of pages from the metapage,
 * which counts them.  A filtered scan reads it first to learn which
 * elements may match, stopping as soon as they are too many to visit
 * one by one (and estimating how many there are); it then searches the
 * graph, but only for as long as visiting the matching elements would
 * take (HNSW_FILTER_GRAPH_SHARE), and otherwise computes the distance of
 * every matching element: an exact answer, at a cost proportional to the
 * matches.
 *
 * The directory only grows: an insert appends the new element's entry
 * (also when it reuses a deleted element's slot, so a TID can appear
 * twice, the older entry stale).  Readers verify every element they take
 * from it (not deleted, signatures match), so stale entries cost a read
 * but never a wrong row.  REINDEX rebuilds it compactly.
 *
 * The graph search itself (hnswgraph.c) knows nothing of filters: a scan
 * searches the disk graph through the wrapping operations at the end of
 * this file, which accept only matching elements as results, count what
 * the search meets against the budget and stop it there, and keep what
 * did not make the results for the iterative scan.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"

#include "hnsw.h"

static Size
signature_tuple_size(const HnswIndexInfo *info)
{
	return MAXALIGN(offsetof(HnswSignatureTupleData, signatures) +
					sizeof(AnnSignature) * info->filters.ncolumns);
}

static void
init_signature_page(Page page)
{
	AnnInitPage(page, ANN_HNSW_PAGE_ID, HNSW_PAGE_SIGNATURES);
}

static void
form_signature_tuple(const HnswIndexInfo *info, ItemPointer element, const char *signatures,
					 HnswSignatureTuple tuple)
{
	memset(tuple, 0, signature_tuple_size(info));
	tuple->type = HNSW_SIGNATURE_TUPLE;
	tuple->element = *element;
	memcpy(tuple->signatures, signatures, sizeof(AnnSignature) * info->filters.ncolumns);
}

/* ---------------------------------------------------------------------
 * Writing
 * ---------------------------------------------------------------------
 */

/*
 * At the end of a build (no WAL yet): list every element, appending as
 * an insert does.
 */
void
HnswBuildSignatureDirectory(Relation index)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer = ReadBuffer(index, blkno);
		Page		page;

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			HnswElementTuple element = HnswPageGetElement(index, blkno, page, off);
			ItemPointerData tid;

			if (element == NULL || element->deleted)
				continue;
			ItemPointerSet(&tid, blkno, off);
			HnswAppendSignature(index, &tid,
								HnswElementSignatures(HnswGetIndexInfo(index), element), true);
		}
		UnlockReleaseBuffer(buffer);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * After an element was written (signatures: its key's): append its entry
 * and count it.  Locks the metapage, then the tail page; one WAL record
 * (none when building), which covers a new tail page too when the old one
 * is full, or the first page of an index that has no directory yet (an
 * unlogged index reset to empty, a build).
 */
void
HnswAppendSignature(Relation index, ItemPointer element, const char *signatures,
					bool building)
{
	const HnswIndexInfo *info = HnswGetIndexInfo(index);
	Size		size = signature_tuple_size(info);
	HnswSignatureTuple tuple = palloc(size);
	Buffer		metabuf = ReadBuffer(index, ANN_METAPAGE_BLKNO);
	HnswMetaPage meta;
	Page		page = NULL;
	AnnEdit		edit;

	form_signature_tuple(info, element, signatures, tuple);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	AnnEditBegin(&edit, index, building);
	meta = (HnswMetaPage) PageGetContents(AnnEditRegister(&edit, metabuf, false));
	if (BlockNumberIsValid(meta->signature_tail))
	{
		Buffer		tailbuf = ReadBuffer(index, meta->signature_tail);

		LockBuffer(tailbuf, BUFFER_LOCK_EXCLUSIVE);
		page = AnnEditRegister(&edit, tailbuf, false);
	}
	if (page == NULL || PageGetFreeSpace(page) < size)
	{
		Buffer		newbuf = AnnNewBuffer(index, MAIN_FORKNUM);

		if (page != NULL)
			AnnPageGetOpaque(page)->nextblkno = BufferGetBlockNumber(newbuf);
		page = AnnEditRegister(&edit, newbuf, true);
		init_signature_page(page);
		if (!BlockNumberIsValid(meta->signature_head))
			meta->signature_head = BufferGetBlockNumber(newbuf);
		meta->signature_tail = BufferGetBlockNumber(newbuf);
	}
	if (PageAddItem(page, (Item) tuple, size, InvalidOffsetNumber, false, false) ==
		InvalidOffsetNumber)
		elog(ERROR, "failed to add signature to index \"%s\"", RelationGetRelationName(index));
	meta->signature_count++;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
	pfree(tuple);
}

/* ---------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------
 */

static int
compare_refs(const void *a, const void *b)
{
	HnswRef		x = *(const HnswRef *) a;
	HnswRef		y = *(const HnswRef *) b;

	return (x > y) - (x < y);
}

/*
 * The elements whose directory entry meets filter, in TID order, each
 * once: a palloc'd array in *refs, its length in *n.  With limit >= 0 the
 * reading stops once the matches are clearly more than limit: past limit,
 * or, once HNSW_SAMPLE_MATCHES have matched, extrapolated past twice
 * limit (the estimate then errs by about an eighth, on entries in random
 * order).  *estimate is the number the whole directory would give
 * (extrapolated from the share read), more than limit when the reading
 * stopped; else *n, and *refs lists every match.  Returns false when the
 * index has no directory (no filter columns).
 */
bool
HnswMatchingElements(Relation index, const AnnFilter *filter, int64 limit, HnswRef **refs,
					 int *n, double *estimate)
{
	const HnswIndexInfo *info = HnswGetIndexInfo(index);
	HnswMetaPageData meta;
	BlockNumber blkno;
	int			capacity = 256;
	int			kept = 0;
	uint64		read = 0;
	AnnChainBound bound = AnnChainStart(*info->known_nblocks);

	HnswReadMeta(index, &meta);
	if (!BlockNumberIsValid(meta.signature_head))
		return false;
	*refs = palloc(sizeof(HnswRef) * capacity);
	*n = 0;
	for (blkno = meta.signature_head; BlockNumberIsValid(blkno);)
	{
		Buffer		buffer;
		Page		page;

		AnnChainStep(index, blkno, &bound);
		buffer = ReadBuffer(index, blkno);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		AnnCheckPage(index, blkno, page, ANN_HNSW_PAGE_ID, HNSW_PAGE_SIGNATURES);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			HnswSignatureTuple tuple = (HnswSignatureTuple)
				AnnPageGetItemChecked(index, blkno, page, off, signature_tuple_size(info));

			if (tuple->type != HNSW_SIGNATURE_TUPLE)
				continue;
			read++;
			if (!AnnFilterMatches(filter, (const char *) tuple->signatures))
				continue;
			if (*n == capacity)
			{
				capacity *= 2;
				*refs = repalloc_huge(*refs, sizeof(HnswRef) * capacity);
			}
			(*refs)[(*n)++] = HnswTidToRef(&tuple->element);
		}
		blkno = AnnPageGetOpaque(page)->nextblkno;
		UnlockReleaseBuffer(buffer);
		if (limit >= 0 && read > 0)
		{
			*estimate = (double) *n * Max(meta.signature_count, read) / read;
			if (*n > limit || (*n >= HNSW_SAMPLE_MATCHES && *estimate > 2.0 * limit))
				return true;
		}
	}
	*estimate = *n;

	/* in TID order the element reads go page by page; drop repeats */
	qsort(*refs, *n, sizeof(HnswRef), compare_refs);
	for (int i = 0; i < *n; i++)
		if (kept == 0 || (*refs)[kept - 1] != (*refs)[i])
			(*refs)[kept++] = (*refs)[i];
	*n = kept;
	return true;
}

/*
 * The exact search: the distance of each of the n elements that is live
 * (and, with matching_only, meets the graph's filter) goes into found.
 * Elements are read in batches through the graph's distances callback,
 * which overlaps their cache misses.
 */
void
HnswExactSearch(HnswDiskGraph *graph, const HnswRef *refs, int n, HnswHeap *found,
				bool matching_only)
{
	int			batch = 2 * graph->info->m;
	float	   *distances = palloc(sizeof(float) * batch);
	bool	   *ok = palloc(sizeof(bool) * batch);

	for (int start = 0; start < n; start += batch)
	{
		int			count = Min(batch, n - start);

		hnsw_disk_graph_ops.distances(graph, refs + start, count, distances, ok);
		for (int i = 0; i < count; i++)
			if (ok[i] && (!matching_only || HnswDiskGraphMatches(graph, refs[start + i])))
				HnswHeapPush(found, refs[start + i], distances[i]);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(distances);
	pfree(ok);
}

/* ---------------------------------------------------------------------
 * The graph as a scan searches it
 * ---------------------------------------------------------------------
 */

void
HnswScanGraphInit(HnswScanGraph *graph, HnswDiskGraph *disk)
{
	graph->disk = disk;
	graph->filtering = false;
	graph->keep_leftovers = false;
	HnswScanGraphSetBudget(graph, -1);
	HnswHeapInit(&graph->discarded, 64, false);
	HnswHeapInit(&graph->evicted, 64, false);
}

/* Let layer searches meet budget more elements (-1: any number). */
void
HnswScanGraphSetBudget(HnswScanGraph *graph, int64 budget)
{
	graph->budget = budget;
	graph->met = 0;
	graph->matched = 0;
	graph->over_budget = false;
}

static bool
scan_visit(void *arg, HnswRef ref, int layer)
{
	return hnsw_disk_graph_ops.visit(((HnswScanGraph *) arg)->disk, ref, layer);
}

/* The disk graph's distances, counting what the search met. */
static void
scan_distances(void *arg, const HnswRef *refs, int n, float *distances, bool *ok)
{
	HnswScanGraph *graph = (HnswScanGraph *) arg;

	hnsw_disk_graph_ops.distances(graph->disk, refs, n, distances, ok);
	graph->met += n;
	if (graph->filtering && graph->budget >= 0)
		for (int i = 0; i < n; i++)
			graph->matched += ok[i] && HnswDiskGraphMatches(graph->disk, refs[i]);
}

static int
scan_neighbors(void *arg, HnswRef ref, int layer, HnswRef *out)
{
	return hnsw_disk_graph_ops.neighbors(((HnswScanGraph *) arg)->disk, ref, layer, out);
}

/* The same for the coded search, whose neighbours' codes tell whether they match */
static int
scan_coded_neighbors(void *arg, HnswRef ref, HnswCandidate *out)
{
	HnswScanGraph *graph = (HnswScanGraph *) arg;
	int			n = hnsw_disk_graph_ops.coded_neighbors(graph->disk, ref, out);

	graph->met += Max(n, 0);
	if (graph->filtering && graph->budget >= 0)
		for (int i = 0; i < n; i++)
			graph->matched += HnswDiskGraphMatches(graph->disk, out[i].ref);
	return n;
}

static bool
scan_is_result(void *arg, HnswRef ref)
{
	HnswScanGraph *graph = (HnswScanGraph *) arg;

	return !graph->filtering || HnswDiskGraphMatches(graph->disk, ref);
}

/*
 * Is a budgeted search of ef results over budget, or bound to go over?
 * It will meet about ef / (share of matches among what it met) elements,
 * twice that to be safe: once it has met enough to judge (4 ef), a
 * filter that matches little near the query stops it early.
 */
static bool
scan_stop(void *arg, int ef)
{
	HnswScanGraph *graph = (HnswScanGraph *) arg;

	if (graph->budget < 0)
		return false;
	if (graph->met > graph->budget ||
		(graph->met >= 4 * (int64) ef &&
		 2.0 * ef * graph->met / Max(graph->matched, 1) > graph->budget))
		graph->over_budget = true;
	return graph->over_budget;
}

static void
scan_leftover(void *arg, const HnswCandidate *c, bool evicted)
{
	HnswScanGraph *graph = (HnswScanGraph *) arg;
	HnswHeap   *pile = evicted ? &graph->evicted : &graph->discarded;

	if (graph->keep_leftovers)
		HnswHeapAppendBounded(pile, c->ref, c->distance, c->bound);
}

static void
scan_prefetch(void *arg, HnswRef ref, int layer)
{
	hnsw_disk_graph_ops.prefetch(((HnswScanGraph *) arg)->disk, ref, layer);
}

const HnswGraphOps hnsw_scan_graph_ops = {
	.visit = scan_visit,
	.distances = scan_distances,
	.neighbors = scan_neighbors,
	.is_result = scan_is_result,
	.stop = scan_stop,
	.leftover = scan_leftover,
	.coded_neighbors = scan_coded_neighbors,
	.prefetch = scan_prefetch
};
