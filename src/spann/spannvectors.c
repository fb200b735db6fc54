/*
 * spannvectors.c
 *		Where a spann index keeps its whole vectors, and the codes its
 *		posting lists hold instead.
 *
 * Every indexed row has one vector tuple on a vector page, however many
 * lists it is in; each of its list entries holds the heap TID, the
 * vector tuple's TID and a RaBitQ code of the vector relative to the
 * list's centroid (codes.h), a few hundred bytes instead of the whole
 * vector.  Keys and centroids are rotated by one fixed rotation
 * (SPANN_ROTATION_SEED) before coding; the rotation keeps distances, so
 * nothing else sees it.
 *
 * A scan estimates each entry's distance from its code, with a lower
 * bound, and reads whole vectors only for the entries whose bound can
 * still put them among the rows it returns (spannscan.c).  Strict-order
 * scans use only bounds that always hold (the triangle inequality and
 * its inner-product form); the others also the code's, which hold but
 * for a small share of entries (ANN_CODE_EPSILON).
 *
 * Bit keys need neither: a bit key is as compact as a code of as many
 * dimensions, and its Hamming distance to the query is a popcount.  Their
 * entries hold the key itself (in place of the code), no vector tuple is
 * stored, and the distance a scan computes from an entry is exact.
 *
 * Vector tuples are never moved: VACUUM frees the slot of a dead row
 * (its heap TID made invalid), and a later insert reuses it.  A reader
 * holding an entry of a row VACUUM removed meanwhile finds the slot free
 * or holding another row, and skips the entry: that row was dead to its
 * snapshot anyway.
 *
 * Inserts go to the vector page the metapage names (vector_page, the one
 * being filled), else to one the free space map says has a free slot
 * (VACUUM records the pages where it freed slots, a new page is recorded,
 * and an insert records a page it filled), else to a new page, which
 * becomes vector_page.  The map's values for vector pages stay below half
 * a page, so that GetFreeIndexPage (pages to recycle) never offers one.
 * The map is a hint: every page it offers is checked under its lock.
 * Lock order: a vector page, then the metapage; nothing locks a vector
 * page while holding another page.
 */
#include "postgres.h"

#include <float.h>

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "utils/memutils.h"

#include "spann.h"

/* The widest bit key fits a page, as an entry and as a centroid */
StaticAssertDecl(SPANN_ENTRY_TUPLE_SIZE((SPANN_MAX_BITS + 63) / 64, 0) <= SPANN_MAX_TUPLE_SIZE,
				 "a bit entry fits a page");
StaticAssertDecl(SPANN_CENTROID_TUPLE_SIZE(VARBITTOTALLEN(SPANN_MAX_BITS)) <= SPANN_MAX_TUPLE_SIZE,
				 "a bit centroid fits a page");

/*
 * Code sizes and the rotation, for SpannGetIndexInfo (in cxt); code_bits
 * from the metapage
 */
void
SpannCodeInfoInit(SpannIndexInfo *info, int code_bits, MemoryContext cxt)
{
	info->signature_size = info->filters.ncolumns > 0 ?
		AnnFilterKeySize(&info->filters, info->keysize) - info->filter_offset : 0;
	info->entry_holds_key = info->dist.keytype == ANN_KEY_BIT;
	if (info->entry_holds_key)
	{
		info->padded = 0;
		info->code_bits = 0;
		info->code_words = (info->dimensions + 63) / 64;
	}
	else
	{
		if (code_bits < 1 || code_bits > ANN_CODE_MAX_BITS)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("spann index has codes of %d bits per dimension", code_bits),
					 errhint("REINDEX the index.")));
		info->padded = AnnCodePadded(info->dimensions);
		info->code_bits = code_bits;
		info->code_words = code_bits * info->padded / 64;
		info->rotation = MemoryContextAlloc(cxt, AnnRotationSize(info->dimensions));
		AnnRotationInit(info->rotation, info->dimensions, SPANN_ROTATION_SEED);
		info->code_kernels = AnnBestCodeKernels();
	}
	info->entry_size = SPANN_ENTRY_TUPLE_SIZE(info->code_words, info->signature_size);
}

/*
 * Raise an error if the entries of index, just created, would not fit a
 * page: codes of many bits on many dimensions, with the filter
 * signatures, can be too large (8 bits past about 8,100 dimensions).
 */
void
SpannCheckEntrySize(Relation index)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	int			fitting = info->code_bits;

	if (info->entry_size <= SPANN_MAX_TUPLE_SIZE)
		return;
	while (fitting > 0 &&
		   SPANN_ENTRY_TUPLE_SIZE(fitting * info->padded / 64, info->signature_size) >
		   SPANN_MAX_TUPLE_SIZE)
		fitting--;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("spann codes of %d bits on %d dimensions do not fit an index page",
					info->code_bits, info->dimensions),
			 fitting > 0 ?
			 errhint("Set code_bits to %d or less.", fitting) :
			 errhint("Use fewer filter columns.")));
}

/*
 * The rotated elements of a key (padded floats, palloc'd).  Bit keys are
 * not rotated: padded is 0, and the result holds nothing.
 */
float *
SpannRotate(const SpannIndexInfo *info, const void *elements)
{
	float	   *plain;
	float	   *rotated = palloc(sizeof(float) * info->padded);

	if (info->entry_holds_key)
		return rotated;
	plain = palloc(sizeof(float) * info->dimensions);
	AnnElementsToFloats(&info->dist, elements, info->dimensions, plain);
	AnnRotate(info->rotation, plain, rotated);
	pfree(plain);
	return rotated;
}

/* The rotated centroid of a list, or NULL if the list is gone */
float *
SpannRotatedCentroid(Relation index, const SpannListRef *list)
{
	void	   *key = SpannReadCentroidKey(index, list->cblkno, list->coffset, list->head);
	float	   *rotated;

	if (key == NULL)
		return NULL;
	rotated = SpannRotate(SpannGetIndexInfo(index), SpannKeyElements(key));
	pfree(key);
	return rotated;
}

/* ---------------------------------------------------------------------
 * Vector tuples
 * ---------------------------------------------------------------------
 */

/* A free slot of a vector page from offset first on, or InvalidOffsetNumber */
static OffsetNumber
free_slot(Relation index, BlockNumber blkno, Page page, OffsetNumber first)
{
	Size		size = SpannGetIndexInfo(index)->vector_tuple_size;

	for (OffsetNumber off = first; off <= PageGetMaxOffsetNumber(page); off++)
	{
		SpannVectorTuple v = AnnPageGetItemChecked(index, blkno, page, off, size);

		if (!ItemPointerIsValid(&v->heaptid))
			return off;
	}
	return InvalidOffsetNumber;
}

/*
 * Put the vector tuple, with key (keysize bytes), on page (exclusively
 * locked), in a free slot or new space; false, changing nothing, if full.
 * A long key rewrites the free slot's chain, or gets a new one.
 */
static bool
put_vector(Relation index, bool building, BlockNumber blkno, Page page,
		   SpannVectorTuple tuple, const char *key, ItemPointer where)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		size = info->vector_tuple_size;
	OffsetNumber off = free_slot(index, blkno, page, FirstOffsetNumber);

	if (off != InvalidOffsetNumber)
	{
		SpannVectorTuple slot = (SpannVectorTuple) PageGetItem(page, PageGetItemId(page, off));

		SpannPutKey(index, info, building, tuple->key, key,
					info->long_keysize > 0 ? AnnLongKeyPage(slot->key) : InvalidBlockNumber);
		memcpy(slot, tuple, size);
	}
	else if (PageGetFreeSpace(page) >= size)
	{
		SpannPutKey(index, info, building, tuple->key, key, InvalidBlockNumber);
		off = PageAddItem(page, (Item) tuple, size, InvalidOffsetNumber, false, false);
	}
	if (off == InvalidOffsetNumber)
		return false;
	ItemPointerSet(where, blkno, off);
	return true;
}

/* Is this an initialised vector page? */
static bool
is_vector_page(Page page)
{
	return !PageIsNew(page) && AnnPageGetOpaque(page)->page_id == ANN_SPANN_PAGE_ID &&
		(AnnPageGetOpaque(page)->flags & SPANN_PAGE_VECTORS);
}

/* Point the metapage at the vector page being filled */
static void
set_vector_page(Relation index, bool building, BlockNumber blkno)
{
	AnnEdit		edit;

	AnnEditBegin(&edit, index, building);
	SpannEditMeta(&edit, index)->vector_page = blkno;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
}

/*
 * What the free space map is told of a vector page: 0 when it has no
 * free slot and no room for one, else its room capped below half a page
 * (see the head of this file); at least one category (BLCKSZ / 256) so
 * that a request of 1 byte finds it.  Free slots are looked for from
 * offset first on (the caller knows there are none before).
 */
static Size
vector_page_room(Relation index, BlockNumber blkno, Page page, OffsetNumber first)
{
	Size		size = SpannGetIndexInfo(index)->vector_tuple_size;
	Size		room = PageGetFreeSpace(page) >= size ? PageGetFreeSpace(page) : 0;

	if (free_slot(index, blkno, page, first) != InvalidOffsetNumber)
		room += size;
	if (room == 0)
		return 0;
	return Max(Min(room, BLCKSZ / 2 - 1), BLCKSZ / 256);
}

/* Free pages a vector insert lets the map offer before it takes a new page */
#define SPANN_VECTOR_FREE_SKIPS 64

/* What store_on_page found */
typedef enum SpannVectorPageState
{
	SPANN_VECTOR_STORED,		/* a vector page, which took the tuple */
	SPANN_VECTOR_FULL,			/* a vector page with no room, or another page in use */
	SPANN_VECTOR_FREE			/* never used, or free to recycle */
} SpannVectorPageState;

/*
 * Put the vector tuple on vector page blkno if it has a free slot or
 * room (changing nothing otherwise), and tell the free space map when
 * the page is full; a page in use for something else is recorded as
 * full.  A page with room left keeps what the map says of it, which is
 * enough for a request of one byte (and saves a map write an insert).
 */
static SpannVectorPageState
store_on_page(Relation index, BlockNumber blkno, SpannVectorTuple tuple, const char *key,
			  bool building, ItemPointer where)
{
	Buffer		buffer = ReadBuffer(index, blkno);
	Page		page;
	AnnEdit		edit;
	bool		stored;
	Size		room;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buffer);
	if (!is_vector_page(page))
	{
		bool		free = PageIsNew(page) || (AnnPageGetOpaque(page)->flags & ANN_PAGE_FREE);

		UnlockReleaseBuffer(buffer);
		if (free)
			return SPANN_VECTOR_FREE;
		RecordPageWithFreeSpace(index, blkno, 0);
		return SPANN_VECTOR_FULL;
	}
	AnnEditBegin(&edit, index, building);
	/* put_vector changes nothing when it fails */
	page = AnnEditRegister(&edit, buffer, false);
	stored = put_vector(index, building, blkno, page, tuple, key, where);
	/* put_vector took the first free slot: none is before it */
	room = vector_page_room(index, blkno, page,
							stored ? OffsetNumberNext(ItemPointerGetOffsetNumber(where)) : FirstOffsetNumber);
	if (stored)
		AnnEditFinish(&edit);
	else
		AnnEditAbort(&edit);
	AnnEditUnlockRelease(&edit);
	if (room == 0)
		RecordPageWithFreeSpace(index, blkno, 0);
	return stored ? SPANN_VECTOR_STORED : SPANN_VECTOR_FULL;
}

/*
 * Store the vector of row->heaptid (key: keysize bytes) and set
 * row->vector to where it went: the first vector page with room from the
 * metapage's vector page on (VACUUM points it at the first page where it
 * freed a slot; the pages between are looked at once per VACUUM), else a
 * new page.  Whichever page takes it becomes the metapage's.  One WAL
 * record per page written.  A bit key is not stored (its entries hold
 * it): row->vector is made invalid.
 */
void
SpannStoreVector(Relation index, SpannRow *row, const char *key, bool building)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannVectorTuple tuple;
	SpannMetaPageData meta;
	BlockNumber nblocks;
	AnnEdit		edit;
	Page		page;
	Buffer		buffer;
	BlockNumber blkno;
	Size		room;

	if (info->entry_holds_key)
	{
		ItemPointerSetInvalid(&row->vector);
		return;
	}
	tuple = palloc0(info->vector_tuple_size);
	nblocks = RelationGetNumberOfBlocks(index);
	tuple->heaptid = row->heaptid;
	SpannReadMeta(index, &meta);
	if (BlockNumberIsValid(meta.vector_page) && meta.vector_page < nblocks &&
		store_on_page(index, meta.vector_page, tuple, key, building,
					  &row->vector) == SPANN_VECTOR_STORED)
	{
		pfree(tuple);
		return;
	}
	/*
	 * A page with a free slot, as the map says.  The map offers free pages
	 * too (pages to recycle, which posting lists need more): each search
	 * starts after the page the last one found, so a few more searches
	 * pass them by; after that many, a new page is taken below.
	 */
	for (int free_offered = 0; free_offered < SPANN_VECTOR_FREE_SKIPS;)
	{
		SpannVectorPageState state;

		blkno = GetPageWithFreeSpace(index, 1);
		if (!BlockNumberIsValid(blkno) || blkno >= nblocks)
			break;
		state = store_on_page(index, blkno, tuple, key, building, &row->vector);
		if (state == SPANN_VECTOR_STORED)
		{
			pfree(tuple);
			return;
		}
		if (state == SPANN_VECTOR_FREE)
			free_offered++;
		CHECK_FOR_INTERRUPTS();
	}

	AnnEditBegin(&edit, index, building);
	buffer = AnnNewBuffer(index, MAIN_FORKNUM);
	blkno = BufferGetBlockNumber(buffer);
	page = AnnEditRegister(&edit, buffer, true);
	AnnInitPage(page, ANN_SPANN_PAGE_ID, SPANN_PAGE_VECTORS);
	if (!put_vector(index, building, blkno, page, tuple, key, &row->vector))
		elog(ERROR, "failed to add vector to spann index \"%s\"", RelationGetRelationName(index));
	room = vector_page_room(index, blkno, page,
							OffsetNumberNext(ItemPointerGetOffsetNumber(&row->vector)));
	AnnEditFinish(&edit);
	set_vector_page(index, building, blkno);
	AnnEditUnlockRelease(&edit);
	pfree(tuple);

	/*
	 * Should another backend's new page take the metapage's place (a
	 * parallel build's participants add pages side by side), the map still
	 * leads to this one: its upper levels learn it now, not at the next
	 * VACUUM.
	 */
	RecordPageWithFreeSpace(index, blkno, room);
	FreeSpaceMapVacuumRange(index, blkno, blkno + 1);
}

/*
 * The vector tuple of row, on its page, pinned in buffer, which this
 * share-locks; or NULL, with buffer unlocked and released, when the slot
 * no longer holds that row.
 */
static SpannVectorTuple
lock_pinned_vector(Relation index, const SpannRow *row, Buffer buffer)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	BlockNumber blkno = ItemPointerGetBlockNumber(&row->vector);
	Page		page = BufferGetPage(buffer);
	SpannVectorTuple v;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	AnnCheckPage(index, blkno, page, ANN_SPANN_PAGE_ID, SPANN_PAGE_VECTORS);
	v = AnnPageGetItemChecked(index, blkno, page, ItemPointerGetOffsetNumber(&row->vector),
							  info->vector_tuple_size);
	if (ItemPointerEquals(&v->heaptid, (ItemPointer) &row->heaptid))
		return v;
	UnlockReleaseBuffer(buffer);
	return NULL;
}

/* lock_pinned_vector, with the page read into *buffer first */
static SpannVectorTuple
lock_vector(Relation index, const SpannRow *row, Buffer *buffer)
{
	*buffer = AnnReadLinkedBuffer(index, ItemPointerGetBlockNumber(&row->vector),
								  SpannGetIndexInfo(index)->known_nblocks, NULL);
	return lock_pinned_vector(index, row, *buffer);
}

/* Copy row's vector key (keysize bytes) to key; false if it is gone */
bool
SpannReadVector(Relation index, const SpannRow *row, char *key)
{
	Buffer		buffer;
	SpannVectorTuple v = lock_vector(index, row, &buffer);

	if (v == NULL)
		return false;
	SpannCopyKey(index, SpannGetIndexInfo(index), v->key, key);
	UnlockReleaseBuffer(buffer);
	return true;
}

/*
 * Pin the vector pages of rows[0..n) and prefetch the lines each will be
 * read at (page header, special space, line pointer, then the tuple's
 * first lines), so that the cache misses of the n rows overlap instead
 * of queueing.  The pages not in shared buffers are prefetched from the
 * kernel first, so that their reads overlap too; the buffers of the
 * others are found by that same lookup (ReadRecentBuffer).
 */
static void
pin_vector_pages(Relation index, const SpannRow *rows, int n, Buffer *pins)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		prefetch_size = Min(info->vector_tuple_size, 256);

	for (int i = 0; i < n; i++)
		pins[i] = AnnPrefetchLinked(index, ItemPointerGetBlockNumber(&rows[i].vector),
									info->known_nblocks);
	for (int i = 0; i < n; i++)
	{
		pins[i] = AnnReadRecentLinkedBuffer(index, ItemPointerGetBlockNumber(&rows[i].vector),
											info->known_nblocks, pins[i]);
		AnnPrefetchItemHead(BufferGetPage(pins[i]), ItemPointerGetOffsetNumber(&rows[i].vector));
	}
	for (int i = 0; i < n; i++)
		AnnPrefetchItem(BufferGetPage(pins[i]), ItemPointerGetOffsetNumber(&rows[i].vector),
						prefetch_size);
}

/*
 * The distances from query (elements) to the vectors of rows[0..n), at
 * most SPANN_RERANK_BATCH: in distances, with ok[i] false where row i is
 * gone.
 */
void
SpannRowDistances(Relation index, const SpannRow *rows, int n, const void *query,
				  float *distances, bool *ok)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Buffer		pins[SPANN_RERANK_BATCH];
	char	   *scratch = info->long_keysize > 0 ? palloc(info->keysize) : NULL;

	Assert(n <= SPANN_RERANK_BATCH);
	pin_vector_pages(index, rows, n, pins);
	for (int i = 0; i < n; i++)
	{
		SpannVectorTuple v = lock_pinned_vector(index, &rows[i], pins[i]);

		ok[i] = v != NULL;
		if (v == NULL)
			continue;
		distances[i] = AnnDistance(&info->dist, query,
								   SpannKeyElements(SpannGetKey(index, info, v->key, scratch)),
								   info->dimensions);
		UnlockReleaseBuffer(pins[i]);
	}
	if (scratch != NULL)
		pfree(scratch);
}

/*
 * VACUUM: free the vector tuples of dead rows, and record each page where
 * it freed a slot in the free space map (the cleanup makes the map's
 * upper levels see them).  Returns how many were freed (none in an index
 * of bit keys, which has no vector page).
 */
double
SpannDeleteDeadVectors(IndexVacuumInfo *vinfo, IndexBulkDeleteCallback callback,
					   void *callback_state)
{
	Relation	index = vinfo->index;
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		size = info->vector_tuple_size;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	double		freed = 0;

	if (info->entry_holds_key)
		return 0;
	for (BlockNumber blkno = ANN_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
												vinfo->strategy);
		Page		page;
		AnnEdit		edit;
		bool		any = false;

		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		if (!is_vector_page(BufferGetPage(buffer)))
		{
			UnlockReleaseBuffer(buffer);
			continue;
		}
		AnnEditBegin(&edit, index, false);
		page = AnnEditRegister(&edit, buffer, false);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			SpannVectorTuple v = AnnPageGetItemChecked(index, blkno, page, off, size);

			if (ItemPointerIsValid(&v->heaptid) && callback(&v->heaptid, callback_state))
			{
				ItemPointerSetInvalid(&v->heaptid);
				any = true;
				freed++;
			}
		}
		if (any)
		{
			Size		room = vector_page_room(index, blkno, page, FirstOffsetNumber);

			AnnEditFinish(&edit);
			UnlockReleaseBuffer(buffer);
			RecordPageWithFreeSpace(index, blkno, room);
		}
		else
		{
			AnnEditAbort(&edit);
			UnlockReleaseBuffer(buffer);
		}
		vacuum_delay_point();
	}
	return freed;
}

/* ---------------------------------------------------------------------
 * Entries
 * ---------------------------------------------------------------------
 */

/* An entry's signatures (after its code) */
const char *
SpannEntrySignatures(const SpannIndexInfo *info, SpannEntryTuple e)
{
	return (const char *) (e->code + info->code_words);
}

/*
 * Copy the key of entry e (keysize bytes, without signatures) to key: a
 * bit key from the entry itself, other keys from the entry's vector
 * tuple.  False when that tuple no longer holds the entry's row.
 */
bool
SpannEntryKey(Relation index, SpannEntryTuple e, char *key)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannRow	row;

	if (info->entry_holds_key)
	{
		VarBit	   *bits = (VarBit *) key;

		SET_VARSIZE(bits, info->keysize);
		VARBITLEN(bits) = info->dimensions;
		memcpy(VARBITS(bits), e->code, VARBITBYTES(bits));
		return true;
	}
	row.heaptid = e->heaptid;
	row.vector = e->vector;
	return SpannReadVector(index, &row, key);
}

/*
 * The entry of row for a list whose rotated centroid is centroid: key is
 * the whole entry key (vector, then signatures), rotated its rotated
 * elements.  palloc'd, entry_size bytes.  A bit key's entry holds its
 * bits (the padding bits of the last word zero, as the kernels need).
 */
SpannEntryTuple
SpannMakeEntry(const SpannIndexInfo *info, const SpannRow *row, const char *key,
			   const float *rotated, const float *centroid)
{
	SpannEntryTuple e = palloc0(info->entry_size);
	double		inner = 0;

	e->heaptid = row->heaptid;
	e->vector = row->vector;
	if (info->entry_holds_key)
		memcpy(e->code, SpannKeyElements(key), VARBITBYTES((const VarBit *) key));
	else
	{
		e->code_length = AnnEncode(rotated, centroid, info->padded, info->code_bits, e->code,
								   &e->factors);
		for (int i = 0; i < info->padded; i++)
			inner += (double) rotated[i] * centroid[i];
		e->inner = (float) inner;
	}
	if (info->signature_size > 0)
		memcpy(e->code + info->code_words, key + info->filter_offset, info->signature_size);
	return e;
}

/*
 * Prepare a rotated query against a list's rotated centroid.  Bit entries
 * are compared with the query itself (lq->query), whatever the list.
 */
void
SpannListQueryPrepare(const SpannIndexInfo *info, SpannListQuery *lq, const float *query,
					  const float *centroid)
{
	if (info->entry_holds_key)
		return;
	/* only the inner-product bounds use these */
	if (info->dist.metric == ANN_METRIC_IP || info->dist.metric == ANN_METRIC_COSINE)
	{
		double		qc = 0,
					cc = 0;

		for (int i = 0; i < info->padded; i++)
		{
			qc += (double) query[i] * centroid[i];
			cc += (double) centroid[i] * centroid[i];
		}
		lq->query_centroid = (float) qc;
		lq->centroid_norm2 = (float) cc;
	}
	if (lq->code == NULL)
		lq->code = palloc(AnnCodeQuerySize(info->padded));
	AnnCodeQueryPrepare(lq->code, query, centroid, info->padded);
}

/*
 * A distance no entry is nearer than: 0, but for inner products (cosine
 * included: the index compares unit vectors by their negative inner
 * product), whose distances go below 0.
 */
float
SpannLeastDistance(const SpannIndexInfo *info)
{
	return info->dist.metric == ANN_METRIC_IP || info->dist.metric == ANN_METRIC_COSINE ?
		-INFINITY : 0;
}

/* Room for float rounding in bounds that must always hold */
#define ROUNDING_MARGIN 1e-3f

/*
 * A lower bound of the index distance from the query to the entry's
 * vector.  With always, one that always holds: for L2, (|x - c| -
 * |q - c|)^2; for inner products, <x, q> <= <q, c> + <x, c> - |c|^2 +
 * |x - c| |q - c|; for L1 the L2 bound's root.  Without, the code's
 * estimate tightens them, with its error bound.  For a bit key, the
 * exact distance (a popcount: no rounding).
 */
float
SpannEntryLowerBound(const SpannIndexInfo *info, const SpannListQuery *lq, SpannEntryTuple e,
					 bool always)
{
	const AnnCodeQuery *q = lq->code;
	float		norm = e->factors.norm;
	float		upper_cos = 1.0f;	/* of <o, q_n> */
	float		lower;

	if (info->entry_holds_key)
		return AnnDistance(&info->dist, lq->query, e->code, info->dimensions);
	if (!always)
	{
		float		error;
		float		estimate = AnnCodeEstimate(q, &e->factors, e->code_length, info->code_bits,
											   info->code_kernels->dot(e->code, info->code_bits,
																	   q->planes,
																	   info->padded / 64),
											   &error);

		upper_cos = Min(estimate + error, 1.0f);
	}
	switch (info->dist.metric)
	{
		case ANN_METRIC_IP:
		case ANN_METRIC_COSINE:
			{
				float		terms = lq->query_centroid + e->inner - lq->centroid_norm2;
				float		size = fabsf(lq->query_centroid) + fabsf(e->inner) +
					lq->centroid_norm2 + norm * q->norm;

				return -(terms + norm * q->norm * upper_cos) - ROUNDING_MARGIN * size;
			}
		case ANN_METRIC_L1:
		case ANN_METRIC_L2:
			break;
		case ANN_METRIC_HAMMING:
		case ANN_METRIC_JACCARD:
			elog(ERROR, "bit keys have no codes");
	}
	if (always)
	{
		/* as a difference first: the expanded form cancels when norm ~ q->norm */
		float		gap = fabsf(norm - q->norm) - ROUNDING_MARGIN * (norm + q->norm);

		lower = gap > 0 ? gap * gap : 0;
	}
	else
	{
		lower = norm * norm + q->norm * q->norm - 2.0f * norm * q->norm * upper_cos;
		lower = Max(lower, 0.0f) * (1.0f - ROUNDING_MARGIN);
	}
	return info->dist.metric == ANN_METRIC_L1 ? sqrtf(lower) : lower;
}
