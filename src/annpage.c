/*
 * annpage.c
 *		Buffers, page initialisation, metapage checks and the page-edit
 *		object shared by both access methods.
 *
 * Locking: AnnNewBuffer takes the relation extension lock (unless the
 * relation is local to this backend) only while it adds a block (or a
 * build pool's blocks), and returns the new or recycled buffer pinned and
 * exclusively locked.  AnnEdit callers lock buffers exclusively, in their
 * AM's documented order, before registering them, and keep them locked
 * until AnnEditFinish or AnnEditAbort, which release nothing: unlocking
 * is the caller's job.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/memutils.h"

#include "annpage.h"

/* Empty page with our special space; flags tell the AM's page kind. */
void
AnnInitPage(Page page, uint16 page_id, uint16 flags)
{
	AnnPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(AnnPageOpaqueData));
	opaque = AnnPageGetOpaque(page);
	opaque->nextblkno = InvalidBlockNumber;
	opaque->flags = flags;
	opaque->page_id = page_id;
}

/*
 * A page the free space map offers, if it is still free: never used
 * (all zeros) or flagged ANN_PAGE_FREE by its AM.  Returns it pinned and
 * exclusively locked, or InvalidBuffer when the map has nothing to give.
 */
static Buffer
recycled_buffer(Relation index)
{
	for (;;)
	{
		BlockNumber blkno = GetFreeIndexPage(index);
		Buffer		buffer;

		if (blkno == InvalidBlockNumber)
			return InvalidBuffer;
		buffer = ReadBuffer(index, blkno);
		if (ConditionalLockBuffer(buffer))
		{
			Page		page = BufferGetPage(buffer);

			if (PageIsNew(page) || (AnnPageGetOpaque(page)->flags & ANN_PAGE_FREE))
				return buffer;
			LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buffer);
	}
}

/*
 * A parallel build's participants all extend the index, and on two cores
 * they spent much of their time waiting for the relation extension lock,
 * taken for every page.  While a build pool is open, AnnNewBuffer adds
 * ANN_POOL_PAGES blocks to the main fork under one lock and hands them
 * out one at a time; AnnCloseBuildPool records those left as free pages.
 * An error skips AnnCloseBuildPool, but it also ends the (sub)transaction
 * that opened the pool, and a pool serves only the relation file and the
 * subtransaction it was opened for: after ROLLBACK TO a savepoint, the
 * index's file may be the one a failed REINDEX replaced, whose blocks the
 * pool must never zero.
 */
#define ANN_POOL_PAGES 16

typedef struct AnnBuildPool
{
	RelFileNode node;			/* the index's file */
	LocalTransactionId lxid;	/* the transaction that opened it, */
	SubTransactionId subxid;	/* in this subtransaction (0: no pool open) */
	BlockNumber next;			/* the next block to hand out */
	BlockNumber end;			/* the first block past the pool */
} AnnBuildPool;

static AnnBuildPool build_pool = {
	{InvalidOid, InvalidOid, InvalidOid}, InvalidLocalTransactionId, InvalidSubTransactionId,
	InvalidBlockNumber, InvalidBlockNumber
};

void
AnnOpenBuildPool(Relation index)
{
	build_pool.node = index->rd_node;
	build_pool.lxid = MyProc->lxid;
	build_pool.subxid = GetCurrentSubTransactionId();
	build_pool.next = build_pool.end = InvalidBlockNumber;
}

static bool
pool_is_open(Relation index)
{
	return build_pool.subxid != InvalidSubTransactionId &&
		build_pool.subxid == GetCurrentSubTransactionId() && build_pool.lxid == MyProc->lxid &&
		RelFileNodeEquals(build_pool.node, index->rd_node);
}

void
AnnCloseBuildPool(Relation index)
{
	Assert(pool_is_open(index));
	for (; build_pool.next < build_pool.end; build_pool.next++)
		RecordFreeIndexPage(index, build_pool.next);
	build_pool.subxid = InvalidSubTransactionId;
}

/* A block of the pool, all zeros, pinned and exclusively locked */
static Buffer
pooled_buffer(Relation index)
{
	/* an open pool starts with next and end both invalid */
	if (build_pool.next >= build_pool.end)
	{
		LockRelationForExtension(index, ExclusiveLock);
		for (int i = 0; i < ANN_POOL_PAGES; i++)
		{
			Buffer		buffer = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);

			if (i == 0)
				build_pool.next = BufferGetBlockNumber(buffer);
			ReleaseBuffer(buffer);
		}
		UnlockRelationForExtension(index, ExclusiveLock);
		build_pool.end = build_pool.next + ANN_POOL_PAGES;
	}
	return ReadBufferExtended(index, MAIN_FORKNUM, build_pool.next++, RBM_ZERO_AND_LOCK, NULL);
}

/*
 * A page for new contents: a recycled one from the free space map (main
 * fork only), else a block added at the end of the fork (or taken from
 * the build pool).  Returns it pinned and exclusively locked; the caller
 * initialises it.
 */
Buffer
AnnNewBuffer(Relation index, ForkNumber fork)
{
	/* a parallel build's participants extend the index side by side */
	bool		need_lock = !RELATION_IS_LOCAL(index) || IsInParallelMode();
	Buffer		buffer;

	if (fork == MAIN_FORKNUM && pool_is_open(index))
		return pooled_buffer(index);
	buffer = fork == MAIN_FORKNUM ? recycled_buffer(index) : InvalidBuffer;
	if (BufferIsValid(buffer))
		return buffer;
	if (need_lock)
		LockRelationForExtension(index, ExclusiveLock);
	buffer = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	if (need_lock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buffer;
}

/*
 * A build that lays out its pages in order writes them past shared
 * buffers, as nbtree's sorted build does: each page is written once, by
 * smgrextend, instead of being added as a zero page, filled in a buffer,
 * read back to be logged and written again by a checkpoint.  Pages are
 * WAL-logged in batches before they are written, when the index needs
 * WAL, and made durable at the end (bulk_sync).  The writer's blocks must
 * be the main fork's next ones: nothing else may extend it until
 * AnnBulkFinish.
 */
void
AnnBulkBegin(AnnBulkWriter *writer, Relation index)
{
	writer->index = index;
	writer->use_wal = RelationNeedsWAL(index);
	writer->start_redo = GetRedoRecPtr();
	writer->first = writer->next = RelationGetNumberOfBlocks(index);
	writer->npending = 0;
	writer->space = palloc(sizeof(PGAlignedBlock) * ANN_BULK_BATCH);
	for (int i = 0; i < ANN_BULK_BATCH; i++)
		writer->pages[i] = (Page) writer->space[i].data;
}

static void
bulk_write_pending(AnnBulkWriter *writer)
{
	if (writer->npending == 0)
		return;
	if (writer->use_wal)
		log_newpages(&writer->index->rd_node, MAIN_FORKNUM, writer->npending, writer->blknos,
					 writer->pages, true);
	for (int i = 0; i < writer->npending; i++)
	{
		PageSetChecksumInplace(writer->pages[i], writer->blknos[i]);
		smgrextend(RelationGetSmgr(writer->index), MAIN_FORKNUM, writer->blknos[i],
				   (char *) writer->pages[i], true);
	}
	writer->npending = 0;
}

/*
 * A zeroed page for the next block (*blkno), for the caller to fill
 * before its next call: then the pages before may be written.
 */
Page
AnnBulkNewPage(AnnBulkWriter *writer, BlockNumber *blkno)
{
	Page		page;

	if (writer->npending == ANN_BULK_BATCH)
		bulk_write_pending(writer);
	page = writer->pages[writer->npending];
	memset(page, 0, BLCKSZ);
	writer->blknos[writer->npending++] = writer->next;
	*blkno = writer->next++;
	return page;
}

/*
 * Make the written pages durable by the next checkpoint, as if a buffer
 * write had dirtied them: ask the checkpointer to sync every segment they
 * are in (by writing one of its pages again, which is how PostgreSQL 15
 * lets an extension ask).  A checkpoint that began while they were
 * written may have put its redo point after their WAL records without
 * syncing them, so then sync the fork now, as nbtree's build always does:
 * on this machine's disk that took 1.5 s for an hnsw index of 468 MB.
 * The requests go first, so that a checkpoint beginning after the check
 * finds them.
 */
static void
bulk_sync(AnnBulkWriter *writer)
{
	SMgrRelation smgr = RelationGetSmgr(writer->index);
	PGAlignedBlock block;

	for (BlockNumber seg = writer->first / RELSEG_SIZE;
		 writer->next > writer->first && seg <= (writer->next - 1) / RELSEG_SIZE; seg++)
	{
		BlockNumber blkno = Max(seg * RELSEG_SIZE, writer->first);

		smgrread(smgr, MAIN_FORKNUM, blkno, block.data);
		smgrwrite(smgr, MAIN_FORKNUM, blkno, block.data, false);
	}
	if (GetRedoRecPtr() != writer->start_redo)
		smgrimmedsync(smgr, MAIN_FORKNUM);
}

/* Write the pages left; returns the first block past the writer's. */
BlockNumber
AnnBulkFinish(AnnBulkWriter *writer)
{
	bulk_write_pending(writer);
	if (writer->use_wal)
		bulk_sync(writer);
	pfree(writer->space);
	return writer->next;
}

/* Refuse, with a clear error, a metapage we must not interpret. */
static void
check_meta(Relation index, Page page, const char *am_name, uint32 magic, uint32 version)
{
	AnnMetaHeaderData *header = (AnnMetaHeaderData *) PageGetContents(page);

	if (header->magic != magic)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a valid %s index",
						RelationGetRelationName(index), am_name),
				 errdetail("The metapage has magic number 0x%08X.", header->magic)));
	if (header->version != version)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has unsupported format version %u",
						RelationGetRelationName(index), header->version),
				 errdetail("This version of ann reads format version %u.", version),
				 errhint("REINDEX the index.")));
}

/*
 * Copy size bytes of the metapage's contents into meta, after checking
 * that it is one this AM can read.
 */
void
AnnReadMeta(Relation index, const char *am_name, uint32 magic, uint32 version, void *meta,
			Size size)
{
	Buffer		buffer = ReadBuffer(index, ANN_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	check_meta(index, page, am_name, magic, version);
	memcpy(meta, PageGetContents(page), size);
	UnlockReleaseBuffer(buffer);
}

void
AnnEditBegin(AnnEdit *edit, Relation index, bool building)
{
	edit->index = index;
	edit->building = building;
	edit->nbuffers = 0;
	edit->state = building ? NULL : GenericXLogStart(index);
}

/*
 * Register an exclusively locked buffer and return the page to change.
 * new_page asks for a full image: use it for new or rewritten pages.
 */
Page
AnnEditRegister(AnnEdit *edit, Buffer buffer, bool new_page)
{
	for (int i = 0; i < edit->nbuffers; i++)
		if (edit->buffers[i] == buffer)
			return edit->building ? BufferGetPage(buffer) :
				GenericXLogRegisterBuffer(edit->state, buffer, 0);

	if (edit->nbuffers >= MAX_GENERIC_XLOG_PAGES)
		elog(ERROR, "too many buffers in one change of index \"%s\"",
			 RelationGetRelationName(edit->index));
	edit->buffers[edit->nbuffers++] = buffer;
	if (edit->building)
		return BufferGetPage(buffer);
	return GenericXLogRegisterBuffer(edit->state, buffer,
									 new_page ? GENERIC_XLOG_FULL_IMAGE : 0);
}

/*
 * Make the changes durable: one WAL record, or dirty buffers in a build.
 * The buffers stay registered (and locked) for AnnEditUnlockRelease.
 */
void
AnnEditFinish(AnnEdit *edit)
{
	if (edit->building)
	{
		for (int i = 0; i < edit->nbuffers; i++)
			MarkBufferDirty(edit->buffers[i]);
	}
	else
		GenericXLogFinish(edit->state);
	edit->state = NULL;
}

/*
 * Drop the changes.  In a build the pages were changed in place, so only
 * call this before changing anything.  The buffers stay registered and
 * locked: AnnEditUnlockRelease still releases them.
 */
void
AnnEditAbort(AnnEdit *edit)
{
	if (edit->state != NULL)
		GenericXLogAbort(edit->state);
	edit->state = NULL;
}

/* Unlock and release every buffer registered in a finished edit. */
void
AnnEditUnlockRelease(AnnEdit *edit)
{
	for (int i = 0; i < edit->nbuffers; i++)
		UnlockReleaseBuffer(edit->buffers[i]);
	edit->nbuffers = 0;
}

/* After a build that wrote pages without WAL, log them all at once. */
void
AnnLogRelation(Relation index, ForkNumber fork)
{
	if (RelationNeedsWAL(index) || fork == INIT_FORKNUM)
		log_newpage_range(index, fork, 0, RelationGetNumberOfBlocksInFork(index, fork),
						  true);
}

/* Log the main fork's blocks from start up to end, as AnnLogRelation does */
void
AnnLogRelationRange(Relation index, BlockNumber start, BlockNumber end)
{
	if (RelationNeedsWAL(index) && start < end)
		log_newpage_range(index, MAIN_FORKNUM, start, end, true);
}

/* ---------------------------------------------------------------------
 * Checks of pages read from disk
 * ---------------------------------------------------------------------
 */

/* Raise INDEX_CORRUPTED for block blkno of index; what says what is wrong */
void
AnnPageCorrupted(Relation index, BlockNumber blkno, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" contains a corrupted page at block %u",
					RelationGetRelationName(index), blkno),
			 errdetail_internal("%s", what),
			 errhint("REINDEX the index.")));
}

/*
 * Check that page, block blkno of index, is one of the AM's (page_id)
 * of one of the kinds the flags in kinds name: a sane header and our
 * special space.  Raises INDEX_CORRUPTED otherwise.
 */
void
AnnCheckPage(Relation index, BlockNumber blkno, Page page, uint16 page_id, uint16 kinds)
{
	PageHeader	header = (PageHeader) page;
	AnnPageOpaque opaque;

	if (PageIsNew(page) ||
		header->pd_special != BLCKSZ - MAXALIGN(sizeof(AnnPageOpaqueData)) ||
		header->pd_lower < SizeOfPageHeaderData || header->pd_lower > header->pd_upper ||
		header->pd_upper > header->pd_special)
		AnnPageCorrupted(index, blkno, "The page header or special space is invalid.");
	opaque = AnnPageGetOpaque(page);
	if (opaque->page_id != page_id || (opaque->flags & kinds) == 0)
		AnnPageCorrupted(index, blkno, psprintf("The page has ID 0x%04X and flags 0x%04X.",
											  opaque->page_id, opaque->flags));
}

/*
 * The item at off of page (block blkno of index, checked by
 * AnnCheckPage), which must be a used line pointer of len bytes (0: of
 * any length) lying within the page at a MAXALIGN'ed offset, where
 * PageAddItem puts every item (callers read the item's fields in place).
 * Raises INDEX_CORRUPTED otherwise.
 */
void *
AnnPageGetItemChecked(Relation index, BlockNumber blkno, Page page, OffsetNumber off, Size len)
{
	PageHeader	header = (PageHeader) page;
	ItemId		id;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		AnnPageCorrupted(index, blkno, psprintf("Offset %u is past the page's last item.", off));
	id = PageGetItemId(page, off);
	if (len == 0)
		len = Max(ItemIdGetLength(id), 1);
	if (!ItemIdIsNormal(id) || ItemIdGetLength(id) != len ||
		ItemIdGetOffset(id) < header->pd_upper ||
		ItemIdGetOffset(id) != MAXALIGN(ItemIdGetOffset(id)) ||
		ItemIdGetOffset(id) + len > header->pd_special)
		AnnPageCorrupted(index, blkno, psprintf("The item at offset %u is invalid.", off));
	return PageGetItem(page, id);
}

/*
 * The shared buffers that last held index pages this backend read, in a
 * direct-mapped table.  A read of a page found there pins its buffer with
 * ReadRecentBuffer, which checks that the buffer still holds the page,
 * and so skips the shared buffer mapping table: its hash, its partition
 * lock and the cache misses of its lookup, the largest cost of a search's
 * page reads when the index is in shared buffers.  A stale entry costs
 * only that check.
 */
#define RECENT_SLOTS	65536

typedef struct RecentBuffer
{
	Oid			relnode;
	BlockNumber blkno;
	Buffer		buffer;
} RecentBuffer;

static RecentBuffer *recent_buffers;

/* The slot of index's block blkno: consecutive blocks take consecutive slots */
static RecentBuffer *
recent_slot(Relation index, BlockNumber blkno)
{
	if (recent_buffers == NULL)
		recent_buffers = MemoryContextAllocZero(TopMemoryContext,
												sizeof(RecentBuffer) * RECENT_SLOTS);
	return &recent_buffers[(blkno + index->rd_node.relNode * 2654435761u) % RECENT_SLOTS];
}

/* Whether slot remembers block blkno of index */
static bool
slot_holds(const RecentBuffer *slot, Relation index, BlockNumber blkno)
{
	return slot->relnode == index->rd_node.relNode && slot->blkno == blkno &&
		BufferIsValid(slot->buffer);
}

/* Have slot remember that buffer holds block blkno of index */
static void
remember_buffer(RecentBuffer *slot, Relation index, BlockNumber blkno, Buffer buffer)
{
	slot->relnode = index->rd_node.relNode;
	slot->blkno = blkno;
	slot->buffer = buffer;
}

/*
 * Pin buffer if it still holds block blkno of index, counting the read as
 * ReadBufferExtended counts a hit: in the statistics and in the cost of a
 * VACUUM, whose cost-based delay would otherwise not see it
 */
static bool
pin_recent(Relation index, BlockNumber blkno, Buffer buffer)
{
	if (!ReadRecentBuffer(index->rd_node, MAIN_FORKNUM, blkno, buffer))
		return false;
	pgstat_count_buffer_read(index);
	pgstat_count_buffer_hit(index);
	VacuumPageHit++;
	if (VacuumCostActive)
		VacuumCostBalance += VacuumCostPageHit;
	return true;
}

/*
 * Read block blkno, a block number an index page holds: one past the
 * index's end is corruption, not a read error.  *known_nblocks counts
 * blocks known to exist (0 at first); indexes never shrink, so it is
 * refreshed only when blkno is not below it.  Reads with the default
 * strategy of shared buffers go through the backend's recent buffers.
 */
Buffer
AnnReadLinkedBuffer(Relation index, BlockNumber blkno, BlockNumber *known_nblocks,
					BufferAccessStrategy strategy)
{
	RecentBuffer *slot = NULL;
	Buffer		buffer;

	if (strategy == NULL && !RelationUsesLocalBuffers(index))
	{
		slot = recent_slot(index, blkno);
		if (slot_holds(slot, index, blkno) && pin_recent(index, blkno, slot->buffer))
			return slot->buffer;
	}
	if (blkno >= *known_nblocks)
	{
		*known_nblocks = RelationGetNumberOfBlocks(index);
		if (blkno >= *known_nblocks)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" is corrupted: a link leads to block %u, past its end (%u blocks)",
							RelationGetRelationName(index), blkno, *known_nblocks),
					 errhint("REINDEX the index.")));
	}
	buffer = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	if (slot != NULL)
		remember_buffer(slot, index, blkno, buffer);
	return buffer;
}

/*
 * Whether shared buffer still holds block blkno of index, as an unlocked
 * read of its tag says: a hint (the pin that follows checks), which
 * costs the cache miss on the buffer's descriptor that the pin takes
 * anyway.
 */
static bool
buffer_seems_to_hold(Buffer buffer, Relation index, BlockNumber blkno)
{
	BufferDesc *desc = GetBufferDescriptor(buffer - 1);
	BufferTag	tag;

	INIT_BUFFERTAG(tag, index->rd_node, MAIN_FORKNUM, blkno);
	return BUFFERTAGS_EQUAL(desc->tag, tag);
}

/*
 * Prefetch block blkno, a block number an index page holds, if it is
 * known to exist (a prefetch past the end would fail before
 * AnnReadLinkedBuffer could say why).  Returns the shared buffer that
 * held it, for AnnReadRecentLinkedBuffer, or InvalidBuffer.  A block
 * still in the recent buffer the backend remembers for it needs no
 * lookup in the shared buffer table (9% of a spann query's time on
 * fashion-mnist) and no read.
 */
Buffer
AnnPrefetchLinked(Relation index, BlockNumber blkno, const BlockNumber *known_nblocks)
{
	RecentBuffer *slot;
	Buffer		recent;

	if (blkno >= *known_nblocks)
		return InvalidBuffer;
	/* ReadRecentBuffer takes shared buffers only */
	if (RelationUsesLocalBuffers(index))
	{
		PrefetchBuffer(index, MAIN_FORKNUM, blkno);
		return InvalidBuffer;
	}
	slot = recent_slot(index, blkno);
	if (slot_holds(slot, index, blkno) && buffer_seems_to_hold(slot->buffer, index, blkno))
		return slot->buffer;
	recent = PrefetchBuffer(index, MAIN_FORKNUM, blkno).recent_buffer;
	if (BufferIsValid(recent))
		remember_buffer(slot, index, blkno, recent);
	return recent;
}

/*
 * AnnReadLinkedBuffer, through recent (AnnPrefetchLinked's answer) when it
 * still holds the block: that pins it without a second lookup.
 */
Buffer
AnnReadRecentLinkedBuffer(Relation index, BlockNumber blkno, BlockNumber *known_nblocks,
						  Buffer recent)
{
	if (BufferIsValid(recent) && pin_recent(index, blkno, recent))
		return recent;
	return AnnReadLinkedBuffer(index, blkno, known_nblocks, NULL);
}

/*
 * Prefetch what a read of item off of block blkno touches first (the
 * buffer's descriptor, the page's header and special space, the item's
 * line pointer) if the block is among the backend's recent buffers,
 * without pinning it: a hint, harmless if the buffer holds another page
 * by now.
 */
void
AnnPrefetchRecentItem(Relation index, BlockNumber blkno, OffsetNumber off)
{
	const RecentBuffer *slot;

	if (recent_buffers == NULL || RelationUsesLocalBuffers(index))
		return;
	slot = recent_slot(index, blkno);
	if (!slot_holds(slot, index, blkno))
		return;
	__builtin_prefetch(GetBufferDescriptor(slot->buffer - 1));
	AnnPrefetchItemHead(BufferGetPage(slot->buffer), off);
}

/*
 * Prefetch the lines of a pinned page that AnnCheckPage and
 * AnnPageGetItemChecked read for item off: its header, its special space
 * and the item's line pointer.  Callers that read many pages prefetch
 * them all before reading any, so that the cache misses overlap.
 */
void
AnnPrefetchItemHead(Page page, OffsetNumber off)
{
	__builtin_prefetch(page);
	__builtin_prefetch((char *) page + BLCKSZ - sizeof(AnnPageOpaqueData));
	if (off >= FirstOffsetNumber && off <= MaxOffsetNumber)
		__builtin_prefetch(PageGetItemId(page, off));
}

/*
 * Prefetch the first size bytes of item off of a pinned page, once its
 * line pointer is in cache (AnnPrefetchItemHead).  The line pointer is
 * read without the page's lock, which is safe because it only chooses
 * what to prefetch: an offset outside the page is ignored.
 */
void
AnnPrefetchItem(Page page, OffsetNumber off, Size size)
{
	unsigned	start;

	if (off < FirstOffsetNumber || off > MaxOffsetNumber)
		return;
	start = ItemIdGetOffset(PageGetItemId(page, off));
	for (unsigned at = start; at < start + size && at < BLCKSZ; at += 64)
		__builtin_prefetch((char *) page + at);
}

/*
 * Start the bound of a walk along a chain of pages from nblocks, the
 * index's size as the caller last knew it (a backend's cached size): a
 * walk checks the true size, a system call, only once it has taken that
 * many steps.
 */
AnnChainBound
AnnChainStart(BlockNumber nblocks)
{
	AnnChainBound bound = {.steps = 0,.limit = nblocks};

	return bound;
}

/*
 * Count one more step of a walk along a chain of pages; a walk longer
 * than the index has blocks has met a cycle.  Also lets the walk be
 * cancelled.
 */
void
AnnChainStep(Relation index, BlockNumber blkno, AnnChainBound *bound)
{
	if (bound->steps >= bound->limit)
	{
		bound->limit = RelationGetNumberOfBlocks(index);
		if (bound->steps >= bound->limit)
			AnnPageCorrupted(index, blkno, "A chain of pages loops back on itself.");
	}
	bound->steps++;
	CHECK_FOR_INTERRUPTS();
}

/* ---------------------------------------------------------------------
 * Long keys: keys too large for a page of tuples
 * ---------------------------------------------------------------------
 */

/*
 * Bytes of a long key that a key page holds: all between its header and
 * its special space.  The part lies at the end, from pd_upper on, where
 * generic WAL logs it; the page has no line pointers, so loops over a
 * page's items find none on it.
 */
#define KEY_PAGE_BYTES \
	(BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(AnnPageOpaqueData)))

/* The number of key pages a long key of size bytes takes */
int
AnnKeyPageCount(Size size)
{
	return (int) ((size + KEY_PAGE_BYTES - 1) / KEY_PAGE_BYTES);
}

/* Bytes of a size-byte key that page i of its chain holds */
static Size
key_part_size(Size size, int i)
{
	return Min(size - (Size) i * KEY_PAGE_BYTES, KEY_PAGE_BYTES);
}

/*
 * The key pages of a new chain: added to the index (or recycled), locked.
 * Nobody can reach them until the caller stores the first one's number.
 */
static void
new_key_pages(Relation index, Buffer *buffers, int npages)
{
	for (int i = 0; i < npages; i++)
		buffers[i] = AnnNewBuffer(index, MAIN_FORKNUM);
}

/* The key pages of the chain from first, exclusively locked, in order */
static void
lock_key_pages(Relation index, uint16 page_id, uint16 kind, BlockNumber first,
			   Buffer *buffers, int npages)
{
	BlockNumber blkno = first;

	for (int i = 0; i < npages; i++)
	{
		Page		page;

		buffers[i] = ReadBuffer(index, blkno);
		LockBuffer(buffers[i], BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buffers[i]);
		AnnCheckPage(index, blkno, page, page_id, kind);
		blkno = AnnPageGetOpaque(page)->nextblkno;
	}
}

/*
 * Write the size bytes of key to a chain of key pages (kind is the AM's
 * page flag for them) and return its first block.  rewrite is the first
 * block of a chain of the same size to overwrite in place (the caller
 * holds the lock that keeps its readers out), or InvalidBlockNumber for
 * a new chain.  Pages are WAL-logged whole, MAX_GENERIC_XLOG_PAGES to a
 * record; a crash between records leaves a chain that nothing points to
 * yet (a new one) or that only a removed entry points to (a rewrite).
 */
BlockNumber
AnnWriteLongKey(Relation index, bool building, uint16 page_id, uint16 kind,
				const char *key, Size size, BlockNumber rewrite)
{
	int			npages = AnnKeyPageCount(size);
	Buffer	   *buffers = palloc(sizeof(Buffer) * npages);
	BlockNumber first;

	if (BlockNumberIsValid(rewrite))
		lock_key_pages(index, page_id, kind, rewrite, buffers, npages);
	else
		new_key_pages(index, buffers, npages);
	for (int start = 0; start < npages; start += MAX_GENERIC_XLOG_PAGES)
	{
		AnnEdit		edit;

		AnnEditBegin(&edit, index, building);
		for (int i = start; i < Min(start + MAX_GENERIC_XLOG_PAGES, npages); i++)
		{
			Page		page = AnnEditRegister(&edit, buffers[i], true);
			Size		part = key_part_size(size, i);

			AnnInitPage(page, page_id, kind);
			((PageHeader) page)->pd_upper -= part;
			memcpy((char *) page + ((PageHeader) page)->pd_upper,
				   key + (Size) i * KEY_PAGE_BYTES, part);
			AnnPageGetOpaque(page)->nextblkno = i + 1 < npages ?
				BufferGetBlockNumber(buffers[i + 1]) : InvalidBlockNumber;
		}
		AnnEditFinish(&edit);
		AnnEditUnlockRelease(&edit);
	}
	first = BufferGetBlockNumber(buffers[0]);
	pfree(buffers);
	return first;
}

/*
 * Read the size-byte long key whose chain starts at first into out.  The
 * caller holds the lock that keeps the chain from being rewritten.  A
 * chain of another length or shape is corruption.
 */
void
AnnReadLongKey(Relation index, uint16 page_id, uint16 kind, BlockNumber first,
			   BlockNumber *known_nblocks, char *out, Size size)
{
	int			npages = AnnKeyPageCount(size);
	BlockNumber blkno = first;

	for (int i = 0; i < npages; i++)
	{
		Size		part = key_part_size(size, i);
		Buffer		buffer;
		Page		page;

		if (!BlockNumberIsValid(blkno))
			AnnPageCorrupted(index, first, "A long key's chain of pages ends early.");
		buffer = AnnReadLinkedBuffer(index, blkno, known_nblocks, NULL);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		AnnCheckPage(index, blkno, page, page_id, kind);
		if (((PageHeader) page)->pd_special - ((PageHeader) page)->pd_upper != part ||
			(i + 1 == npages) != !BlockNumberIsValid(AnnPageGetOpaque(page)->nextblkno))
			AnnPageCorrupted(index, blkno, "A long key's page holds a part of another size.");
		memcpy(out + (Size) i * KEY_PAGE_BYTES, (char *) page + ((PageHeader) page)->pd_upper,
			   part);
		blkno = AnnPageGetOpaque(page)->nextblkno;
		UnlockReleaseBuffer(buffer);
	}
}
