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
 * (its heap TID made invalid; the parts of a split one are removed), and
 * a later insert reuses the space.  A reader holding an entry of a row
 * VACUUM removed meanwhile finds the slot free, gone or holding another
 * row, and skips the entry: that row was dead to its snapshot anyway.
 *
 * Inserts put a vector whole where it fits: the vector page the metapage
 * names (vector_page, the one being filled), else one the free space map
 * says has a free slot or room (VACUUM records the pages where it freed
 * space, a new page is recorded, and an insert records a page it
 * filled).  Only then do they split one (below), and last they take a
 * new page, which becomes vector_page.  The map's values for vector
 * pages stay below half a page, so that GetFreeIndexPage (pages to
 * recycle) never offers one.  The map is a hint: every page it offers is
 * checked under its lock.  Lock order: a vector page, then the page of
 * its split vectors' tails, then the metapage.  A build's participants
 * fill pages of their own instead (SpannStoreBuildVector).
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
 *
 * A vector tuple too large for the free space of the page being filled,
 * when that is at least SPANN_VECTOR_SPLIT_MIN, is split: a head there
 * with the key's first bytes and the TID of a tail, and the tail, with
 * the rest, on a new page.  (Two whole 784-dimension vectors leave 1.8 kB
 * of a page unused: a quarter of the index.)  A tail always goes to a
 * page added for it, so a tail's page became a vector page after its
 * head's; readers and VACUUM lock a head's page, then its tail's, and
 * that order has no cycle.  VACUUM removes both parts of a dead split
 * vector (their space returns to their pages); a dead whole tuple becomes
 * a free slot.
 * ---------------------------------------------------------------------
 */

/* Free space that takes the head of a vector too large for it */
#define SPANN_VECTOR_SPLIT_MIN		(BLCKSZ / 8)

/* The bytes of a head and of a tail before their part of the key */
#define SPANN_VECTOR_HEAD_HEADER	offsetof(SpannVectorHeadData, key)
#define SPANN_VECTOR_TAIL_HEADER	offsetof(SpannVectorTupleData, key)

/* Can a vector tuple of part hold len bytes, whole ones holding whole? */
static bool
vector_length_ok(uint16 part, Size len, Size whole)
{
	switch (part)
	{
		case SPANN_VECTOR_WHOLE:
			return len == whole;
		case SPANN_VECTOR_HEAD:
			return len > SPANN_VECTOR_HEAD_HEADER && len < whole;
		case SPANN_VECTOR_TAIL:
			return len > SPANN_VECTOR_TAIL_HEADER && len < whole;
		default:
			return false;
	}
}

/*
 * The vector tuple at off of vector page blkno, whole or part of a split
 * one; NULL when off is past the page's last item or unused (VACUUM
 * removed the parts of a split vector there, and a stale entry may name
 * them).
 */
static SpannVectorTuple
vector_item(Relation index, BlockNumber blkno, Page page, OffsetNumber off)
{
	SpannVectorTuple v;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsUsed(PageGetItemId(page, off)))
		return NULL;
	v = AnnPageGetItemChecked(index, blkno, page, off, 0);
	if (!vector_length_ok(v->part, ItemIdGetLength(PageGetItemId(page, off)),
						  SpannGetIndexInfo(index)->vector_tuple_size))
		AnnPageCorrupted(index, blkno, psprintf("The vector tuple at offset %u is invalid.", off));
	return v;
}

/* A free slot of a vector page from offset first on, or InvalidOffsetNumber */
static OffsetNumber
free_slot(Relation index, BlockNumber blkno, Page page, OffsetNumber first)
{
	for (OffsetNumber off = first; off <= PageGetMaxOffsetNumber(page); off++)
	{
		SpannVectorTuple v = vector_item(index, blkno, page, off);

		if (v != NULL && v->part == SPANN_VECTOR_WHOLE && !ItemPointerIsValid(&v->heaptid))
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

/*
 * What the free space map says of a vector page that can take a whole
 * vector tuple, at least; one that can take only a head has one category
 * (BLCKSZ / 256, enough for a request of one byte), a full one none.
 */
#define SPANN_VECTOR_WHOLE_ROOM		(2 * (BLCKSZ / 256))

/*
 * What the free space map is told of a vector page: its room for whole
 * tuples (free space, and a free slot's) capped below half a page (see
 * the head of this file) and at least SPANN_VECTOR_WHOLE_ROOM; else one
 * category if a head fits, else 0.  Free slots are looked for from
 * offset first on (the caller knows there are none before).
 */
static Size
vector_page_room(Relation index, BlockNumber blkno, Page page, OffsetNumber first)
{
	Size		size = SpannGetIndexInfo(index)->vector_tuple_size;
	Size		free = PageGetFreeSpace(page);
	Size		room = free >= size ? free : 0;

	if (free_slot(index, blkno, page, first) != InvalidOffsetNumber)
		room += size;
	if (room > 0)
		return Max(Min(room, BLCKSZ / 2 - 1), SPANN_VECTOR_WHOLE_ROOM);
	return free >= SPANN_VECTOR_SPLIT_MIN ? BLCKSZ / 256 : 0;
}

/* Add an item of size bytes to page, which has room for it */
static OffsetNumber
add_vector_part(Relation index, Page page, const void *item, Size size)
{
	OffsetNumber off = PageAddItem(page, (Item) item, size, InvalidOffsetNumber, false, false);

	if (off == InvalidOffsetNumber)
		elog(ERROR, "failed to add vector to spann index \"%s\"", RelationGetRelationName(index));
	return off;
}

/*
 * Split the vector of row heaptid (key: keysize bytes, not a long key)
 * between page, block blkno registered in edit, whose free space takes
 * its head, and a new page, registered in edit, which takes its tail;
 * where is set to the head.  Returns the new page's block number, and in
 * *tail_room what the free space map is to be told of it.
 */
static BlockNumber
put_split_vector(Relation index, AnnEdit *edit, BlockNumber blkno, Page page,
				 ItemPointer heaptid, const char *key, ItemPointer where, Size *tail_room)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	Size		head_bytes = MAXALIGN_DOWN(PageGetFreeSpace(page)) - SPANN_VECTOR_HEAD_HEADER;
	Size		tail_bytes = info->keysize - head_bytes;
	SpannVectorHead head = palloc0(SPANN_VECTOR_HEAD_HEADER + head_bytes);
	SpannVectorTuple tail = palloc0(SPANN_VECTOR_TAIL_HEADER + tail_bytes);
	Buffer		tail_buffer = AnnNewBuffer(index, MAIN_FORKNUM);
	Page		tail_page = AnnEditRegister(edit, tail_buffer, true);

	Assert(head_bytes > 0 && head_bytes < info->keysize);
	AnnInitPage(tail_page, ANN_SPANN_PAGE_ID, SPANN_PAGE_VECTORS);
	tail->heaptid = *heaptid;
	tail->part = SPANN_VECTOR_TAIL;
	memcpy(tail->key, key + head_bytes, tail_bytes);
	head->heaptid = *heaptid;
	head->part = SPANN_VECTOR_HEAD;
	ItemPointerSet(&head->tail, BufferGetBlockNumber(tail_buffer),
				   add_vector_part(index, tail_page, tail, SPANN_VECTOR_TAIL_HEADER + tail_bytes));
	memcpy(head->key, key, head_bytes);
	ItemPointerSet(where, blkno,
				   add_vector_part(index, page, head, SPANN_VECTOR_HEAD_HEADER + head_bytes));
	pfree(head);
	pfree(tail);
	*tail_room = vector_page_room(index, BufferGetBlockNumber(tail_buffer), tail_page,
								  FirstOffsetNumber);
	return BufferGetBlockNumber(tail_buffer);
}

/* Point the metapage at the vector page being filled */
static void
set_vector_page(Relation index, BlockNumber blkno)
{
	AnnEdit		edit;

	AnnEditBegin(&edit, index, false);
	SpannEditMeta(&edit, index)->vector_page = blkno;
	AnnEditFinish(&edit);
	AnnEditUnlockRelease(&edit);
}

/*
 * Finish edit, which added vector page blkno (room: what the map is to
 * be told of it), and make that page the metapage's, then unlock and
 * release the edit's pages.  Should another backend's new page take the
 * metapage's place (concurrent inserts add pages side by side), the map
 * still leads to this one: its upper levels learn it now, not at the next
 * VACUUM.
 */
static void
finish_with_new_page(Relation index, AnnEdit *edit, BlockNumber blkno, Size room)
{
	AnnEditFinish(edit);
	set_vector_page(index, blkno);
	AnnEditUnlockRelease(edit);
	RecordPageWithFreeSpace(index, blkno, room);
	FreeSpaceMapVacuumRange(index, blkno, blkno + 1);
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
 * room for it, or, when may_split, room for its head (its tail going to
 * a new page, which becomes the metapage's); change nothing otherwise.
 * The free space map learns what is left when the page can take no
 * more whole tuples or did not take this one; a page in use for
 * something else is recorded as full.  (A page with room left keeps what
 * the map says of it, which saves a map write an insert.)
 */
static SpannVectorPageState
store_on_page(Relation index, BlockNumber blkno, SpannVectorTuple tuple, const char *key,
			  bool may_split, ItemPointer where)
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
	AnnEditBegin(&edit, index, false);
	/* put_vector changes nothing when it fails */
	page = AnnEditRegister(&edit, buffer, false);
	stored = put_vector(index, false, blkno, page, tuple, key, where);
	if (!stored && may_split && PageGetFreeSpace(page) >= SPANN_VECTOR_SPLIT_MIN)
	{
		BlockNumber tail_blkno = put_split_vector(index, &edit, blkno, page, &tuple->heaptid,
												  key, where, &room);

		/* the head took all the page's room, and it had no free slot */
		finish_with_new_page(index, &edit, tail_blkno, room);
		RecordPageWithFreeSpace(index, blkno, 0);
		return SPANN_VECTOR_STORED;
	}
	/* put_vector took the first free slot: none is before it */
	room = vector_page_room(index, blkno, page,
							stored ? OffsetNumberNext(ItemPointerGetOffsetNumber(where)) : FirstOffsetNumber);
	if (stored)
		AnnEditFinish(&edit);
	else
		AnnEditAbort(&edit);
	AnnEditUnlockRelease(&edit);
	if (!stored || room < SPANN_VECTOR_WHOLE_ROOM)
		RecordPageWithFreeSpace(index, blkno, room);
	return stored ? SPANN_VECTOR_STORED : SPANN_VECTOR_FULL;
}

/*
 * store_on_page on the pages the free space map says have at least
 * wanted bytes of room.  The map offers free pages too (pages to recycle,
 * which posting lists need more): each search starts after the page the
 * last one found, so a few more searches pass them by.  False after that
 * many, or when the map has no page to offer.
 */
static bool
store_by_map(Relation index, SpannVectorTuple tuple, const char *key, Size wanted,
			 bool may_split, BlockNumber nblocks, ItemPointer where)
{
	for (int free_offered = 0; free_offered < SPANN_VECTOR_FREE_SKIPS;)
	{
		BlockNumber blkno = GetPageWithFreeSpace(index, wanted);
		SpannVectorPageState state;

		if (!BlockNumberIsValid(blkno) || blkno >= nblocks)
			return false;
		state = store_on_page(index, blkno, tuple, key, may_split, where);
		if (state == SPANN_VECTOR_STORED)
			return true;
		if (state == SPANN_VECTOR_FREE)
			free_offered++;
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * A new vector tuple for row, its key to be put in; or NULL, with
 * row->vector made invalid, when the index's entries hold the keys
 */
static SpannVectorTuple
new_vector_tuple(Relation index, SpannRow *row)
{
	SpannVectorTuple tuple;

	if (SpannGetIndexInfo(index)->entry_holds_key)
	{
		ItemPointerSetInvalid(&row->vector);
		return NULL;
	}
	tuple = palloc0(SpannGetIndexInfo(index)->vector_tuple_size);
	tuple->heaptid = row->heaptid;
	tuple->part = SPANN_VECTOR_WHOLE;
	return tuple;
}

/*
 * Put the vector tuple on a new vector page, registered in edit (*page);
 * returns its block number
 */
static BlockNumber
put_on_new_page(Relation index, AnnEdit *edit, bool building, SpannVectorTuple tuple,
				const char *key, ItemPointer where, Page *page)
{
	Buffer		buffer = AnnNewBuffer(index, MAIN_FORKNUM);
	BlockNumber blkno = BufferGetBlockNumber(buffer);

	*page = AnnEditRegister(edit, buffer, true);
	AnnInitPage(*page, ANN_SPANN_PAGE_ID, SPANN_PAGE_VECTORS);
	if (!put_vector(index, building, blkno, *page, tuple, key, where))
		elog(ERROR, "failed to add vector to spann index \"%s\"", RelationGetRelationName(index));
	return blkno;
}

/*
 * Store the vector of row->heaptid (key: keysize bytes) and set
 * row->vector to where it went (its head, when it is split).  Whole, if
 * the metapage's vector page (the one being filled) or a page the free
 * space map names has a free slot or room; else split, its head where a
 * head fits; else on a new page, which becomes the metapage's.  (Split
 * first, and every split's new page would take the inserts that could
 * have filled the slots VACUUM freed.)  One WAL record per page written,
 * the two parts of a split vector in one.  A bit key is not stored (its
 * entries hold it): row->vector is made invalid.
 */
void
SpannStoreVector(Relation index, SpannRow *row, const char *key)
{
	SpannVectorTuple tuple = new_vector_tuple(index, row);
	SpannMetaPageData meta;
	BlockNumber nblocks;
	AnnEdit		edit;
	Page		page;
	BlockNumber blkno;
	bool		has_page;

	if (tuple == NULL)
		return;
	nblocks = RelationGetNumberOfBlocks(index);
	SpannReadMeta(index, &meta);
	has_page = BlockNumberIsValid(meta.vector_page) && meta.vector_page < nblocks;
	for (int may_split = 0; may_split <= 1; may_split++)
	{
		if ((has_page && store_on_page(index, meta.vector_page, tuple, key, may_split,
									   &row->vector) == SPANN_VECTOR_STORED) ||
			store_by_map(index, tuple, key,
						 may_split ? 1 : SPANN_VECTOR_WHOLE_ROOM, may_split, nblocks, &row->vector))
		{
			pfree(tuple);
			return;
		}
	}

	AnnEditBegin(&edit, index, false);
	blkno = put_on_new_page(index, &edit, false, tuple, key, &row->vector, &page);
	finish_with_new_page(index, &edit, blkno,
						 vector_page_room(index, blkno, page,
										  OffsetNumberNext(ItemPointerGetOffsetNumber(&row->vector))));
	pfree(tuple);
}

/*
 * Put the vector tuple on a build's page *filling, or its head there and
 * its tail on a new page, which becomes *filling; false, changing
 * nothing, when not even a head fits.
 */
static bool
store_on_filling(Relation index, BlockNumber *filling, SpannVectorTuple tuple, const char *key,
				 ItemPointer where)
{
	Buffer		buffer = ReadBuffer(index, *filling);
	AnnEdit		edit;
	Page		page;
	bool		stored;

	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	AnnEditBegin(&edit, index, true);
	page = AnnEditRegister(&edit, buffer, false);
	stored = put_vector(index, true, *filling, page, tuple, key, where);
	if (!stored && PageGetFreeSpace(page) >= SPANN_VECTOR_SPLIT_MIN)
	{
		Size		unused_room;

		*filling = put_split_vector(index, &edit, *filling, page, &tuple->heaptid, key, where,
									&unused_room);
		stored = true;
	}
	if (stored)
		AnnEditFinish(&edit);
	else
		AnnEditAbort(&edit);
	AnnEditUnlockRelease(&edit);
	return stored;
}

/*
 * Store the vector of row->heaptid during a build, as SpannStoreVector
 * does but on pages of the caller's own: *filling is the page it fills
 * (InvalidBlockNumber at first).  A vector that does not fit is split if
 * a head fits, else it goes to a new page; the new page becomes
 * *filling.  Neither the metapage nor the free space map is read or
 * written, so a parallel build's participants do not wait on each other;
 * SpannFinishBuildVectors tells the map what room the last page has left.
 */
void
SpannStoreBuildVector(Relation index, BlockNumber *filling, SpannRow *row, const char *key)
{
	SpannVectorTuple tuple = new_vector_tuple(index, row);

	if (tuple == NULL)
		return;
	if (!BlockNumberIsValid(*filling) ||
		!store_on_filling(index, filling, tuple, key, &row->vector))
	{
		AnnEdit		edit;
		Page		page;

		AnnEditBegin(&edit, index, true);
		*filling = put_on_new_page(index, &edit, true, tuple, key, &row->vector, &page);
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
	}
	pfree(tuple);
}

/* Record the room left on the last page SpannStoreBuildVector filled */
void
SpannFinishBuildVectors(Relation index, BlockNumber filling)
{
	Buffer		buffer;
	Size		room;

	if (!BlockNumberIsValid(filling))
		return;
	buffer = ReadBuffer(index, filling);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	room = vector_page_room(index, filling, BufferGetPage(buffer), FirstOffsetNumber);
	UnlockReleaseBuffer(buffer);
	RecordPageWithFreeSpace(index, filling, room);
}

/*
 * The tail of the split vector whose head is at off of page (block
 * blkno), on tail_page (locked), checked to be that head's and as long as
 * the head leaves it.
 */
static SpannVectorTuple
split_tail(Relation index, BlockNumber blkno, Page page, OffsetNumber off, Page tail_page)
{
	SpannVectorHead head = (SpannVectorHead) PageGetItem(page, PageGetItemId(page, off));
	Size		head_bytes = ItemIdGetLength(PageGetItemId(page, off)) - SPANN_VECTOR_HEAD_HEADER;
	BlockNumber tail_blkno = ItemPointerGetBlockNumber(&head->tail);
	OffsetNumber tail_off = ItemPointerGetOffsetNumber(&head->tail);
	SpannVectorTuple tail;

	AnnCheckPage(index, tail_blkno, tail_page, ANN_SPANN_PAGE_ID, SPANN_PAGE_VECTORS);
	tail = AnnPageGetItemChecked(index, tail_blkno, tail_page, tail_off,
								 SPANN_VECTOR_TAIL_HEADER + SpannGetIndexInfo(index)->keysize -
								 head_bytes);
	if (tail->part != SPANN_VECTOR_TAIL || !ItemPointerEquals(&tail->heaptid, &head->heaptid))
		AnnPageCorrupted(index, tail_blkno,
						 psprintf("The item at offset %u is not the tail of the vector at (%u,%u).",
								  tail_off, blkno, off));
	return tail;
}

/*
 * Copy the key of a split vector, whose head is at off of page blkno
 * (share-locked), to key (keysize bytes): the head's bytes, then the
 * tail's.  The tail stays while the head's page is locked: VACUUM
 * removes both under that page's lock.
 */
static void
read_split_key(Relation index, BlockNumber blkno, Page page, OffsetNumber off, char *key)
{
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
	SpannVectorHead head = (SpannVectorHead) PageGetItem(page, PageGetItemId(page, off));
	Size		head_bytes = ItemIdGetLength(PageGetItemId(page, off)) - SPANN_VECTOR_HEAD_HEADER;
	Buffer		buffer = AnnReadLinkedBuffer(index, ItemPointerGetBlockNumber(&head->tail),
											 info->known_nblocks, NULL);
	SpannVectorTuple tail;

	memcpy(key, head->key, head_bytes);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	tail = split_tail(index, blkno, page, off, BufferGetPage(buffer));
	memcpy(key + head_bytes, tail->key, info->keysize - head_bytes);
	UnlockReleaseBuffer(buffer);
}

/*
 * The key of row's vector, whose page is pinned in buffer, which this
 * share-locks: in place, or in scratch (keysize bytes) when it is long or
 * split.  NULL, with buffer unlocked and released, when the slot no
 * longer holds that row.
 */
static const char *
lock_vector_key(Relation index, const SpannRow *row, Buffer buffer, char *scratch)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(&row->vector);
	OffsetNumber off = ItemPointerGetOffsetNumber(&row->vector);
	Page		page = BufferGetPage(buffer);
	SpannVectorTuple v;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	AnnCheckPage(index, blkno, page, ANN_SPANN_PAGE_ID, SPANN_PAGE_VECTORS);
	v = vector_item(index, blkno, page, off);
	if (v == NULL || v->part == SPANN_VECTOR_TAIL ||
		!ItemPointerEquals(&v->heaptid, (ItemPointer) &row->heaptid))
	{
		UnlockReleaseBuffer(buffer);
		return NULL;
	}
	if (v->part == SPANN_VECTOR_WHOLE)
		return SpannGetKey(index, SpannGetIndexInfo(index), v->key, scratch);
	read_split_key(index, blkno, page, off, scratch);
	return scratch;
}

/* Copy row's vector key (keysize bytes) to key; false if it is gone */
bool
SpannReadVector(Relation index, const SpannRow *row, char *key)
{
	Buffer		buffer = AnnReadLinkedBuffer(index, ItemPointerGetBlockNumber(&row->vector),
											 SpannGetIndexInfo(index)->known_nblocks, NULL);
	const char *found = lock_vector_key(index, row, buffer, key);

	if (found == NULL)
		return false;
	if (found != key)
		memcpy(key, found, SpannGetIndexInfo(index)->keysize);
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
	char	   *scratch = palloc(info->keysize);

	Assert(n <= SPANN_RERANK_BATCH);
	pin_vector_pages(index, rows, n, pins);
	for (int i = 0; i < n; i++)
	{
		const char *key = lock_vector_key(index, &rows[i], pins[i], scratch);

		ok[i] = key != NULL;
		if (key == NULL)
			continue;
		distances[i] = AnnDistance(&info->dist, query, SpannKeyElements(key), info->dimensions);
		UnlockReleaseBuffer(pins[i]);
	}
	pfree(scratch);
}

/*
 * Remove the split vector whose head is at off of vector page blkno
 * (pinned and exclusively locked in buffer), and its tail, in one WAL
 * record.  The tail's page is told to the free space map.
 */
static void
remove_split_vector(Relation index, BufferAccessStrategy strategy, Buffer buffer,
					BlockNumber blkno, OffsetNumber off)
{
	SpannVectorHead head = (SpannVectorHead) PageGetItem(BufferGetPage(buffer),
														 PageGetItemId(BufferGetPage(buffer), off));
	BlockNumber tail_blkno = ItemPointerGetBlockNumber(&head->tail);
	OffsetNumber tail_off = ItemPointerGetOffsetNumber(&head->tail);
	Buffer		tail_buffer = AnnReadLinkedBuffer(index, tail_blkno,
												  SpannGetIndexInfo(index)->known_nblocks, strategy);
	AnnEdit		edit;
	Page		page;
	Page		tail_page;
	Size		tail_room;

	LockBuffer(tail_buffer, BUFFER_LOCK_EXCLUSIVE);
	split_tail(index, blkno, BufferGetPage(buffer), off, BufferGetPage(tail_buffer));
	AnnEditBegin(&edit, index, false);
	page = AnnEditRegister(&edit, buffer, false);
	tail_page = AnnEditRegister(&edit, tail_buffer, false);
	PageIndexTupleDeleteNoCompact(tail_page, tail_off);
	PageSetHasFreeLinePointers(tail_page);
	PageIndexTupleDeleteNoCompact(page, off);
	PageSetHasFreeLinePointers(page);
	tail_room = vector_page_room(index, tail_blkno, tail_page, FirstOffsetNumber);
	AnnEditFinish(&edit);
	/* the head's page stays locked for the caller */
	UnlockReleaseBuffer(tail_buffer);
	RecordPageWithFreeSpace(index, tail_blkno, tail_room);
}

/*
 * VACUUM: free the vector tuples of dead rows (a whole one's slot for
 * reuse, a split one's parts removed), and record each page where it
 * freed space in the free space map (the cleanup makes the map's upper
 * levels see them).  Returns how many were freed (none in an index of
 * bit keys, which has no vector page).
 */
double
SpannDeleteDeadVectors(IndexVacuumInfo *vinfo, IndexBulkDeleteCallback callback,
					   void *callback_state)
{
	Relation	index = vinfo->index;
	const SpannIndexInfo *info = SpannGetIndexInfo(index);
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
		/* tails go with their heads */
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(BufferGetPage(buffer)); off++)
		{
			SpannVectorTuple v = vector_item(index, blkno, BufferGetPage(buffer), off);

			if (v != NULL && v->part == SPANN_VECTOR_HEAD && callback(&v->heaptid, callback_state))
			{
				remove_split_vector(index, vinfo->strategy, buffer, blkno, off);
				any = true;
				freed++;
			}
		}
		AnnEditBegin(&edit, index, false);
		page = AnnEditRegister(&edit, buffer, false);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			SpannVectorTuple v = vector_item(index, blkno, page, off);

			if (v != NULL && v->part == SPANN_VECTOR_WHOLE && ItemPointerIsValid(&v->heaptid) &&
				callback(&v->heaptid, callback_state))
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
