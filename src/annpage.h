/*
 * annpage.h
 *		Page handling shared by the hnsw and spann access methods.
 *
 * Every index page of both AMs ends with the same special space
 * (AnnPageOpaqueData), whose last two bytes identify the AM, as bloom
 * does.  Block 0 is a metapage that starts with AnnMetaHeaderData.
 *
 * AnnEdit hides the two ways a page change is made durable: during a
 * build, pages are changed in place and the whole relation is WAL-logged
 * once at the end (AnnLogRelation); afterwards every change goes through
 * GenericXLog, at most MAX_GENERIC_XLOG_PAGES buffers per record.
 */
#ifndef ANN_PAGE_H
#define ANN_PAGE_H

#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#define ANN_METAPAGE_BLKNO	0

/* Page IDs in the last two bytes of every page (bloom uses 0xFF83) */
#define ANN_HNSW_PAGE_ID	0xFF90
#define ANN_SPANN_PAGE_ID	0xFF91

/* Flag bit of a page that was freed and may be recycled by AnnNewBuffer */
#define ANN_PAGE_FREE		0x8000

typedef struct AnnPageOpaqueData
{
	BlockNumber nextblkno;		/* next page of a chain, or InvalidBlockNumber */
	uint16		flags;			/* page kind, AM-specific bits */
	uint16		page_id;		/* ANN_HNSW_PAGE_ID or ANN_SPANN_PAGE_ID */
} AnnPageOpaqueData;

typedef AnnPageOpaqueData *AnnPageOpaque;

#define AnnPageGetOpaque(page) ((AnnPageOpaque) PageGetSpecialPointer(page))

/* The start of every metapage; the AM's own fields follow. */
typedef struct AnnMetaHeaderData
{
	uint32		magic;			/* the AM's magic number */
	uint32		version;		/* on-disk format version */
} AnnMetaHeaderData;

/*
 * What a tuple holds in place of a key too large for a page (a long key,
 * AnnWriteLongKey): the first page of the key's chain.
 */
typedef struct AnnLongKeyRef
{
	BlockNumber first;
	uint32		unused;			/* what follows is 8-byte aligned */
} AnnLongKeyRef;

/* The first key page of the reference at field (a tuple's key field) */
static inline BlockNumber
AnnLongKeyPage(const char *field)
{
	AnnLongKeyRef ref;

	memcpy(&ref, field, sizeof(ref));
	return ref.first;
}

/* Point the reference at field to the chain from first */
static inline void
AnnSetLongKeyPage(char *field, BlockNumber first)
{
	AnnLongKeyRef ref = {first, 0};

	memcpy(field, &ref, sizeof(ref));
}

/* One page change in progress: build mode or GenericXLog mode. */
typedef struct AnnEdit
{
	Relation	index;
	bool		building;		/* true: no WAL now, AnnLogRelation later */
	GenericXLogState *state;	/* GenericXLog mode only */
	int			nbuffers;
	Buffer		buffers[MAX_GENERIC_XLOG_PAGES];
} AnnEdit;

/*
 * How far a walk along a chain of pages has gone, against the most pages
 * a chain can have (AnnChainStep)
 */
typedef struct AnnChainBound
{
	BlockNumber steps;			/* pages read */
	BlockNumber limit;			/* the index's size when last looked at */
} AnnChainBound;

/*
 * Writes a new index's pages in block order past shared buffers
 * (AnnBulkBegin): each page once, logged in batches of ANN_BULK_BATCH
 */
#define ANN_BULK_BATCH 32

typedef struct AnnBulkWriter
{
	Relation	index;
	bool		use_wal;
	XLogRecPtr	start_redo;		/* the redo point when it began */
	BlockNumber first;			/* its first page */
	BlockNumber next;			/* the block the next new page will be */
	int			npending;		/* pages handed out, not yet written */
	BlockNumber blknos[ANN_BULK_BATCH];
	Page		pages[ANN_BULK_BATCH];
	PGAlignedBlock *space;
} AnnBulkWriter;

extern void AnnInitPage(Page page, uint16 page_id, uint16 flags);
extern Buffer AnnNewBuffer(Relation index, ForkNumber fork);
extern void AnnOpenBuildPool(Relation index);
extern void AnnCloseBuildPool(Relation index);
extern void AnnBulkBegin(AnnBulkWriter *writer, Relation index);
extern Page AnnBulkNewPage(AnnBulkWriter *writer, BlockNumber *blkno);
extern BlockNumber AnnBulkFinish(AnnBulkWriter *writer);

extern void AnnReadMeta(Relation index, const char *am_name, uint32 magic, uint32 version,
						void *meta, Size size);
extern void AnnEditBegin(AnnEdit *edit, Relation index, bool building);
extern Page AnnEditRegister(AnnEdit *edit, Buffer buffer, bool new_page);
extern void AnnEditFinish(AnnEdit *edit);
extern void AnnEditAbort(AnnEdit *edit);
extern void AnnEditUnlockRelease(AnnEdit *edit);
extern void AnnLogRelation(Relation index, ForkNumber fork);
extern void AnnLogRelationRange(Relation index, BlockNumber start, BlockNumber end);
extern void AnnPageCorrupted(Relation index, BlockNumber blkno, const char *what) pg_attribute_noreturn();
extern void AnnCheckPage(Relation index, BlockNumber blkno, Page page, uint16 page_id,
						 uint16 kinds);
extern void *AnnPageGetItemChecked(Relation index, BlockNumber blkno, Page page,
								   OffsetNumber off, Size len);
extern AnnChainBound AnnChainStart(BlockNumber nblocks);
extern void AnnChainStep(Relation index, BlockNumber blkno, AnnChainBound *bound);
extern Buffer AnnReadLinkedBuffer(Relation index, BlockNumber blkno, BlockNumber *known_nblocks,
								  BufferAccessStrategy strategy);
extern Buffer AnnPrefetchLinked(Relation index, BlockNumber blkno,
								const BlockNumber *known_nblocks);
extern Buffer AnnReadRecentLinkedBuffer(Relation index, BlockNumber blkno,
										BlockNumber *known_nblocks, Buffer recent);
extern void AnnPrefetchItemHead(Page page, OffsetNumber off);
extern void AnnPrefetchRecentItem(Relation index, BlockNumber blkno, OffsetNumber off);
extern void AnnPrefetchItem(Page page, OffsetNumber off, Size size);
extern int	AnnKeyPageCount(Size size);
extern BlockNumber AnnWriteLongKey(Relation index, bool building, uint16 page_id, uint16 kind,
								   const char *key, Size size, BlockNumber rewrite);
extern void AnnReadLongKey(Relation index, uint16 page_id, uint16 kind, BlockNumber first,
						   BlockNumber *known_nblocks, char *out, Size size);

#endif							/* ANN_PAGE_H */
