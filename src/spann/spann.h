/*
 * spann.h
 *		The spann access method: private definitions.
 *
 * Page layout, tuple states, locking and WAL are described in
 * src/spann/README; the on-disk structs below follow it.
 */
#ifndef SPANN_H
#define SPANN_H

#include "access/amapi.h"
#include "nodes/execnodes.h"
#include "storage/itemptr.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

#include "anncheck.h"
#include "annfilter.h"
#include "annpage.h"
#include "annutils.h"
#include "codes.h"

/* ---------------------------------------------------------------------
 * Limits, defaults
 * ---------------------------------------------------------------------
 */
/* vector and halfvec: keys too large for a tuple go on key pages */
#define SPANN_MAX_DIM			ANN_MAX_DIM
#define SPANN_MAX_HALF_DIM		ANN_MAX_DIM
#define SPANN_MAX_BITS			64000	/* bit: an entry holding the key fits a page */
/* The seed of every spann index's rotation (codes.h) */
#define SPANN_ROTATION_SEED		UINT64CONST(0x5a17a5eed)

#define SPANN_DEFAULT_LISTS		0		/* 0: derived from the row count */
#define SPANN_MAX_LISTS			65536	/* lists a build makes at most */
#define SPANN_DEFAULT_EPSILON	0.1
#define SPANN_MAX_EPSILON		10.0
#define SPANN_DEFAULT_REPLICAS	8
#define SPANN_MAX_REPLICAS		32
/*
 * Bits per dimension of the codes when the code_bits reloption is 0 (its
 * default): four up to SPANN_WIDE_CODE_DIMS dimensions, where a code is
 * small beside its vector and four bits answer more queries at the same
 * recall (1M x 128: test/bench/README.md), one above (at 784 dimensions
 * wider codes make the lists, and the index, larger for little gain).
 */
#define SPANN_AUTO_CODE_BITS	0
#define SPANN_WIDE_CODE_DIMS	256
#define SPANN_WIDE_CODE_BITS	4
#define SPANN_NARROW_CODE_BITS	1

#define SPANN_DEFAULT_PROBES	16
/* Groups of centroids a scan opens at a time */
#define SPANN_DEFAULT_GROUP_PROBES 16
/*
 * Groups of centroids an assignment (a build's or an insert's) looks into
 * for a vector's lists: the lists within the closure bound of the nearest
 * lie in the nearest few groups
 */
#define SPANN_ASSIGN_GROUPS		8
/* kB of centroid directory a backend keeps a copy of */
#define SPANN_DEFAULT_DIRECTORY_CACHE (64 * 1024)
#define SPANN_MAX_PROBES		65536
/* Vectors a scan reranks side by side at most (SpannRowDistances) */
#define SPANN_RERANK_BATCH		8
/*
 * A filtered scan's first probe goes on until it has found this many rows
 * per list of spann.probes, or read this many lists per list of
 * spann.probes (lists that cannot match are skipped and do not count)
 */
#define SPANN_FILTER_FOUND_PER_PROBE 64
#define SPANN_FILTER_LISTS_PER_PROBE 2
/*
 * An insert that finds its entry outside its list's radius widens the
 * radius to this multiple of the entry's distance, so that the directory
 * (which every radius change invalidates) changes rarely
 */
#define SPANN_RADIUS_SLACK		1.05
/* Share of a bound's terms that covers the rounding of float kernels */
#define SPANN_BOUND_MARGIN		1e-4

/* An insert splits a list past this multiple of the mean list size at build */
#define SPANN_SPLIT_FACTOR		2
#define SPANN_MIN_LIST_LIMIT	16
/* VACUUM merges lists with fewer live entries than limit / this */
#define SPANN_MERGE_DIVISOR		8

/*
 * Heavyweight lock tags (SpannLock): a list's lock is tagged with its head
 * block, the split lock with 0 (no list starts at the metapage).
 */
#define SPANN_SPLIT_LOCK		0

/* Build sub-phases reported in pg_stat_progress_create_index */
#define SPANN_PHASE_SAMPLE		2
#define SPANN_PHASE_CLUSTER		3
#define SPANN_PHASE_ASSIGN		4

/* ---------------------------------------------------------------------
 * Page kinds and magic
 * ---------------------------------------------------------------------
 */
#define SPANN_MAGIC				0xA7A50002
#define SPANN_VERSION			6

#define SPANN_PAGE_META			0x0001
#define SPANN_PAGE_CENTROIDS	0x0002
#define SPANN_PAGE_POSTING		0x0004
#define SPANN_PAGE_RETIRED		0x0008	/* of a replaced list; xid in pd_prune_xid */
#define SPANN_PAGE_GROUPS		0x0010
#define SPANN_PAGE_VECTORS		0x0020	/* vector tuples */
#define SPANN_PAGE_KEY			0x0040	/* part of a long key (AnnWriteLongKey) */
#define SPANN_PAGE_CHAINED		(SPANN_PAGE_CENTROIDS | SPANN_PAGE_POSTING | SPANN_PAGE_GROUPS)
/* freed pages carry ANN_PAGE_FREE (annpage.h) */

/* ---------------------------------------------------------------------
 * On-disk structs (see README, "Page layout")
 * ---------------------------------------------------------------------
 */

/* Block 0, stored below pd_lower so generic WAL keeps it */
typedef struct SpannMetaPageData
{
	AnnMetaHeaderData header;	/* SPANN_MAGIC, SPANN_VERSION */
	uint32		dimensions;		/* of every key */
	uint32		nlists;			/* live lists */
	uint32		list_limit;		/* entries past which an insert splits a list */
	uint32		ngroups;		/* groups of centroids */
	BlockNumber group_head;		/* first group page */
	BlockNumber group_tail;		/* last group page */
	uint64		stamp;			/* time of the build: tells builds apart */
	uint32		directory_version;	/* bumped by every change of the lists */
	uint64		splits;			/* lists split by inserts since the build */
	uint64		merges;			/* lists merged away by VACUUM since the build */
	BlockNumber vector_page;	/* where the next vector tuple goes first */
	uint32		code_bits;		/* bits per dimension of the entries' codes */
} SpannMetaPageData;

typedef SpannMetaPageData *SpannMetaPage;

/*
 * One group of lists: its centre (of the lists' centroids) and its own
 * chain of centroid pages
 */
typedef struct SpannGroupTupleData
{
	BlockNumber head;			/* first centroid page; invalid: none yet */
	BlockNumber tail;			/* last centroid page: new centroids go there */
	char		key[FLEXIBLE_ARRAY_MEMBER]; /* Vector or HalfVector */
} SpannGroupTupleData;

typedef SpannGroupTupleData *SpannGroupTuple;

/* One list: its centroid and where its posting pages are */
typedef struct SpannCentroidTupleData
{
	BlockNumber head;			/* first posting page; invalid: free slot */
	BlockNumber fill;			/* the posting page appends try first: the
								 * last, or the first VACUUM left room on;
								 * the chain goes on from it to its end */
	uint32		count;			/* entries, dead ones included until VACUUM */
	uint32		split_at;		/* try to split when count passes this */
	float4		radius;			/* no entry is farther from the centroid
								 * (SpannRadiusDistance) */
	char		key[FLEXIBLE_ARRAY_MEMBER]; /* Vector or HalfVector, then a summary
											 * of the entries' signatures */
} SpannCentroidTupleData;

typedef SpannCentroidTupleData *SpannCentroidTuple;

/*
 * One indexed vector in a posting list: its code relative to the list's
 * centroid (codes.h), and where its whole vector is.  A bit key is its
 * own code: the entry holds its bits, and no vector tuple.
 */
typedef struct SpannEntryTupleData
{
	ItemPointerData heaptid;	/* the heap row */
	ItemPointerData vector;		/* its vector tuple; invalid for bit keys */
	AnnCodeFactors factors;		/* zero for bit keys */
	float4		inner;			/* <x, centroid>, for inner products */
	float4		code_length;	/* |y| of the code (codes.h); 0 for bit keys */
	uint64		code[FLEXIBLE_ARRAY_MEMBER];	/* code_words (a bit key's
												 * bits), then the
												 * signatures of filter columns */
} SpannEntryTupleData;

typedef SpannEntryTupleData *SpannEntryTuple;

/* What part of its vector's key a vector tuple holds */
#define SPANN_VECTOR_WHOLE		0	/* all of it */
#define SPANN_VECTOR_HEAD		1	/* its first bytes (SpannVectorHeadData) */
#define SPANN_VECTOR_TAIL		2	/* the bytes a head does not hold */

/*
 * One indexed vector, stored once however many lists it is in (not bit
 * keys): whole, or split into a head and a tail on two pages
 * (spannvectors.c).  A tail is this with the rest of the key.
 */
typedef struct SpannVectorTupleData
{
	ItemPointerData heaptid;	/* the heap row; invalid: a free slot */
	uint16		part;			/* SPANN_VECTOR_WHOLE, _HEAD or _TAIL */
	char		key[FLEXIBLE_ARRAY_MEMBER]; /* Vector or HalfVector */
} SpannVectorTupleData;

typedef SpannVectorTupleData *SpannVectorTuple;

/* The head of a vector split across two pages */
typedef struct SpannVectorHeadData
{
	ItemPointerData heaptid;	/* the heap row */
	uint16		part;			/* SPANN_VECTOR_HEAD */
	ItemPointerData tail;		/* the tail tuple */
	uint16		unused;
	char		key[FLEXIBLE_ARRAY_MEMBER]; /* the key's first bytes: as many
											 * as the item's length leaves */
} SpannVectorHeadData;

typedef SpannVectorHeadData *SpannVectorHead;

/* A row as the lists know it: its heap TID and its vector tuple */
typedef struct SpannRow
{
	ItemPointerData heaptid;
	ItemPointerData vector;
} SpannRow;

/* Entries of entry_size bytes a posting page holds */
#define SPANN_ENTRIES_PER_PAGE(entry_size) \
	((int) ((BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(AnnPageOpaqueData))) / \
			((entry_size) + sizeof(ItemIdData))))

/* The largest tuple a page takes, with its line pointer and our special space */
#define SPANN_MAX_TUPLE_SIZE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) - \
	 MAXALIGN(sizeof(AnnPageOpaqueData)))

#define SPANN_GROUP_TUPLE_SIZE(keysize) \
	MAXALIGN(offsetof(SpannGroupTupleData, key) + (keysize))
#define SPANN_CENTROID_TUPLE_SIZE(keysize) \
	MAXALIGN(offsetof(SpannCentroidTupleData, key) + (keysize))
#define SPANN_ENTRY_TUPLE_SIZE(code_words, signature_size) \
	MAXALIGN(offsetof(SpannEntryTupleData, code) + sizeof(uint64) * (code_words) + \
			 (signature_size))
#define SPANN_VECTOR_TUPLE_SIZE(keysize) \
	MAXALIGN(offsetof(SpannVectorTupleData, key) + (keysize))

/* ---------------------------------------------------------------------
 * In-memory state
 * ---------------------------------------------------------------------
 */

/* Index-wide facts that never change, cached in rd_amcache */
typedef struct SpannIndexInfo
{
	BlockNumber *known_nblocks; /* AnnReadLinkedBuffer's count, per backend */
	AnnDistanceInfo dist;
	int			dimensions;
	Size		keysize;		/* bytes of a stored key (a centroid's) */
	AnnFilterColumns filters;	/* index columns after the vector */
	Size		entry_keysize;	/* room of an entry's key, signatures included,
								 * in an array of them (MAXALIGN'ed) */
	Size		centroid_keysize;	/* bytes of a centroid's key, summary included */
	Size		filter_offset;	/* where in both the signatures / summary start */
	Size		long_keysize;	/* keys too large for a tuple (0: none): vector,
								 * centroid and group tuples hold an
								 * AnnLongKeyRef instead (spannkeys.c) */
	Size		summary_offset; /* where a centroid tuple's summary starts */
	Size		vector_tuple_size;
	Size		centroid_tuple_size;
	Size		group_tuple_size;
	Size		signature_size; /* bytes of an entry's signatures (0: none) */
	bool		entry_holds_key;	/* bit keys: entries hold the key itself */
	int			padded;			/* rotated dimensions: the code's bits (0 for
								 * bit keys, which are not rotated) */
	int			code_bits;		/* bits per dimension of a code */
	int			code_words;		/* 64-bit words of a code: code_bits planes
								 * of padded / 64 (a bit key's words) */
	Size		entry_size;		/* of an entry tuple */
	AnnRotation *rotation;		/* NULL for bit keys */
	const AnnCodeKernels *code_kernels;
} SpannIndexInfo;

/* A query prepared against one list's centroid, to read its entries' codes */
typedef struct SpannListQuery
{
	const void *query;			/* its elements: bit entries are compared with them */
	float		query_centroid; /* <q, c> */
	float		centroid_norm2; /* |c|^2 */
	AnnCodeQuery *code;
} SpannListQuery;

/*
 * A walk along a chain of pages (next links), each share-locked in turn
 * (spannutils.c):
 *		SpannChainBegin(&walk, index, head);
 *		while ((page = SpannChainNext(&walk)) != NULL) ...
 * A walk run to its end holds no buffer; one left early is ended with
 * SpannChainEnd.
 */
typedef struct SpannChainWalk
{
	Relation	index;
	uint16		kinds;			/* page flags the chain's pages may have */
	AnnChainBound bound;		/* more steps than blocks: a cycle */
	BlockNumber next;			/* the page to read next */
	BlockNumber blkno;			/* the page returned last */
	Buffer		buffer;			/* its buffer, share-locked, or InvalidBuffer */
} SpannChainWalk;

/* Assignment options, from the reloptions */
typedef struct SpannAssignOptions
{
	double		epsilon;
	int			replicas;
} SpannAssignOptions;

/* A list as a scan or insert sees it, with the query's distance to it */
typedef struct SpannListRef
{
	float		distance;
	float		radius;			/* from its centroid tuple */
	float		bound;			/* no entry is nearer the query (when asked for) */
	BlockNumber head;			/* identifies the list while it lives */
	BlockNumber cblkno;			/* where its centroid tuple is */
	OffsetNumber coffset;
	OffsetNumber goffset;		/* where its group's tuple is */
	BlockNumber gblkno;
	int			ordinal;		/* where the caller keeps the list's other facts (a
								 * search's: its place in the directory copy, or -1) */
} SpannListRef;

/* A group of lists as a scan sees it, with the query's distance to it */
typedef struct SpannGroupRef
{
	float		distance;
	BlockNumber gblkno;			/* where its group tuple is */
	OffsetNumber goffset;
	int			ordinal;		/* its place in the group chain */
} SpannGroupRef;

/*
 * A search of the centroids: the groups nearest first, opened a few at a
 * time (spanndirectory.c)
 */
typedef struct SpannNavigation
{
	const void *query;			/* NULL: distances are all 0 */
	bool		bounds;			/* fill the lists' bounds */
	float		query_norm;		/* its length, for the bounds */
	SpannGroupRef *groups;
	int			ngroups;
	int			next_group;		/* the first group not opened yet */
} SpannNavigation;

/* ---------------------------------------------------------------------
 * Functions
 * ---------------------------------------------------------------------
 */

/* spann.c */
typedef enum SpannIterativeScan
{
	SPANN_ITERATIVE_OFF,
	SPANN_ITERATIVE_RELAXED,
	SPANN_ITERATIVE_STRICT
} SpannIterativeScan;

/* Reloptions of both handlers (the ivfflat one sets only lists) */
typedef struct SpannOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			lists;
	double		epsilon;
	int			replicas;
	int			code_bits;
} SpannOptions;

/* What a scan's GUCs say: spann.* or, for an ivfflat index, ivfflat.* */
typedef struct SpannScanSettings
{
	const char *prefix;			/* "spann" or "ivfflat" */
	const char *max_probes_hint;	/* when max_probes stopped a scan */
	int			probes;
	int			iterative;		/* SpannIterativeScan */
	int			max_probes;		/* -1: no limit */
} SpannScanSettings;

extern int	spann_probes;
extern int	spann_iterative_scan;
extern int	spann_max_probes;
extern int	spann_group_probes;
extern int	spann_directory_cache;
extern double spann_scan_mem_multiplier;
extern void SpannInit(void);
extern IndexAmRoutine *SpannMakeAmRoutine(void);
extern void SpannGetScanSettings(Relation index, SpannScanSettings *settings);
extern const char *SpannAmName(Relation index);
extern int	SpannGetLists(Relation index);
extern int	SpannCodeBits(Relation index, int dimensions);
extern int	SpannDefaultLists(double rows);
extern int	SpannListsWanted(Relation index, double rows);
extern uint32 SpannLimitForEntries(Relation index, double entries);
extern uint32 SpannSplitLimit(Relation index, const SpannMetaPageData *meta, uint32 count,
							  uint32 split_at);
extern SpannAssignOptions SpannGetAssignOptions(Relation index);
extern void spanncostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
							  Cost *indexStartupCost, Cost *indexTotalCost,
							  Selectivity *indexSelectivity, double *indexCorrelation,
							  double *indexPages);

/* ivfflat.c */
extern void IvfflatInit(void);
extern bool IvfflatScanSettings(Relation index, SpannScanSettings *settings);

/* spannbuild.c */
extern IndexBuildResult *spannbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void spannbuildempty(Relation index);

/* spanninsert.c */
extern bool spanninsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
						Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
						IndexInfo *indexInfo);
extern void SpannInsertKey(Relation index, const char *key, const SpannRow *row,
						   BlockNumber exclude_head);

/* spannscan.c */
extern IndexScanDesc spannbeginscan(Relation index, int nkeys, int norderbys);
extern void spannrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
						int norderbys);
extern bool spanngettuple(IndexScanDesc scan, ScanDirection dir);
extern void spannendscan(IndexScanDesc scan);

/* spannvacuum.c */
extern IndexBulkDeleteResult *spannbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback,
											  void *callback_state);
extern IndexBulkDeleteResult *spannvacuumcleanup(IndexVacuumInfo *info,
												 IndexBulkDeleteResult *stats);

/* The elements of a stored key (after its varlena header and dim) */
static inline const void *
SpannKeyElements(const char *key)
{
	return key + offsetof(Vector, x);
}

/* spannutils.c */
extern void SpannLock(Relation index, BlockNumber tag, LOCKMODE mode);
extern bool SpannConditionalLock(Relation index, BlockNumber tag, LOCKMODE mode);
extern void SpannUnlock(Relation index, BlockNumber tag, LOCKMODE mode);
extern const SpannIndexInfo *SpannGetIndexInfo(Relation index);
extern void SpannReadMeta(Relation index, SpannMetaPageData *meta);
extern SpannMetaPage SpannEditMeta(AnnEdit *edit, Relation index);
extern Size SpannCentroidKeySize(const AnnFilterColumns *filters, Size keysize);
extern bool SpannListMayMatch(Relation index, const SpannListRef *list, const AnnFilter *filter);
extern void SpannInitMetaPage(Page page, int dimensions, int code_bits);
extern SpannCentroidTuple SpannPageGetCentroid(Relation index, BlockNumber blkno, Page page,
											   OffsetNumber offno);
extern void SpannChainBegin(SpannChainWalk *walk, Relation index, BlockNumber head, uint16 kinds);
extern SpannEntryTuple SpannPageGetEntry(Relation index, BlockNumber blkno, Page page,
										 OffsetNumber off);
extern Buffer SpannReadChainPage(Relation index, BlockNumber blkno, uint16 kinds, int mode,
								 AnnChainBound *bound, BufferAccessStrategy strategy);
extern Page SpannChainNext(SpannChainWalk *walk);
extern void SpannChainEnd(SpannChainWalk *walk);
extern void *SpannReadCentroidKey(Relation index, BlockNumber cblkno, OffsetNumber coffset,
								  BlockNumber head);
extern SpannCentroidTuple SpannEditList(AnnEdit *edit, Relation index, const SpannListRef *list,
										Buffer *buffer);
extern SpannCentroidTuple SpannEditLockedList(AnnEdit *edit, Relation index,
											  const SpannListRef *list);
extern int	SpannAppend(Relation index, const SpannListRef *list, SpannEntryTuple entry,
						const char *key, bool building, uint32 *split_at);
extern Buffer SpannNewPostingPage(AnnEdit *edit, Relation index, Page *page);
extern void SpannRetireChain(Relation index, BlockNumber head);
extern BlockNumber SpannFreeChain(Relation index, BlockNumber head);
extern int	SpannReadList(Relation index, BlockNumber head, SpannRow **rows, char **keys);
extern BlockNumber SpannWriteChain(Relation index, const SpannRow *rows, const char *keys,
								   const int *order, int n, const float *centroid,
								   BlockNumber *tail);
extern bool *SpannReachablePages(Relation index, BlockNumber nblocks);
extern bool SpannIsUnretiredPosting(Page page);
extern float SpannRadiusDistance(const SpannIndexInfo *info, const void *a, const void *b);
extern float SpannLowerBound(const SpannIndexInfo *info, const SpannNavigation *nav,
							 float distance, float radius, const void *centroid);

/* spannkeys.c */
extern bool SpannKeysAreLong(Size keysize);
extern void SpannKeyInfoInit(SpannIndexInfo *info);
extern void SpannPutKey(Relation index, const SpannIndexInfo *info, bool building, char *field,
						const char *key, BlockNumber rewrite);
extern void SpannPutCentroidKey(Relation index, const SpannIndexInfo *info, bool building,
								SpannCentroidTuple tuple, const char *stored);
extern const char *SpannGetKey(Relation index, const SpannIndexInfo *info, const char *field,
							   char *scratch);
extern void SpannCopyKey(Relation index, const SpannIndexInfo *info, const char *field,
						 char *out);
extern void SpannFreeKeyPages(Relation index, BlockNumber first);

/* spannvectors.c */
extern void SpannCodeInfoInit(SpannIndexInfo *info, int code_bits, MemoryContext cxt);
extern void SpannCheckEntrySize(Relation index);
extern float SpannLeastDistance(const SpannIndexInfo *info);
extern float *SpannRotate(const SpannIndexInfo *info, const void *elements);
extern float *SpannRotatedCentroid(Relation index, const SpannListRef *list);
extern void SpannStoreVector(Relation index, SpannRow *row, const char *key);
extern void SpannStoreBuildVector(Relation index, BlockNumber *filling, SpannRow *row,
								  const char *key);
extern void SpannFinishBuildVectors(Relation index, BlockNumber filling);
extern bool SpannReadVector(Relation index, const SpannRow *row, char *key);
extern void SpannRowDistances(Relation index, const SpannRow *rows, int n, const void *query,
							  float *distances, bool *ok);
extern double SpannDeleteDeadVectors(IndexVacuumInfo *vinfo, IndexBulkDeleteCallback callback,
									 void *callback_state);
extern const char *SpannEntrySignatures(const SpannIndexInfo *info, SpannEntryTuple e);
extern bool SpannEntryKey(Relation index, SpannEntryTuple e, char *key);
extern SpannEntryTuple SpannMakeEntry(const SpannIndexInfo *info, const SpannRow *row,
									  const char *key, const float *rotated,
									  const float *centroid);
extern void SpannListQueryPrepare(const SpannIndexInfo *info, SpannListQuery *lq,
								  const float *query, const float *centroid);
extern float SpannEntryLowerBound(const SpannIndexInfo *info, const SpannListQuery *lq,
								  SpannEntryTuple e, bool always);

/* spanncheck.c */
extern bool SpannCheckIndex(Relation index, AnnTidSet *tids);

/* spanndirectory.c */
extern void SpannNavigate(Relation index, const void *query, bool bounds, SpannNavigation *nav);
extern SpannListRef *SpannOpenGroups(Relation index, SpannNavigation *nav, int ngroups,
									 int *nlists);
extern bool SpannListRotatedCentroid(Relation index, const SpannListRef *list, float *out);
extern SpannListRef *SpannNearLists(Relation index, const void *query, int *nlists);
extern SpannListRef *SpannAllLists(Relation index, int *nlists);
extern void SpannSelectNearestLists(SpannListRef *lists, int n, int k);
extern void SpannSortListsByBound(SpannListRef *lists, int n);
extern void SpannSortGroups(SpannGroupRef *groups, int n);
extern BlockNumber *SpannCentroidPages(Relation index, int *npages);
extern OffsetNumber SpannAddCentroid(AnnEdit *edit, Relation index, BlockNumber gblkno,
									 OffsetNumber goffset, SpannCentroidTuple tuple,
									 BlockNumber *cblkno);
extern void SpannAddFirstList(AnnEdit *edit, Relation index, SpannMetaPage meta,
							  SpannCentroidTuple tuple, const char *key);
extern SpannGroupTuple SpannPageGetGroup(Relation index, BlockNumber blkno, Page page,
										 OffsetNumber offno);

/* spanncluster.c */
extern float SpannClosureBound(AnnMetric metric, float nearest, double factor);
extern int	SpannChooseLists(const AnnDistanceInfo *dist, int dim, const SpannListRef *sorted,
							 int nsorted, const void *const *centroid_keys,
							 const SpannAssignOptions *opts, int *chosen);
extern int	SpannClosureCandidates(AnnMetric metric, SpannListRef *lists, int n,
								   const SpannAssignOptions *opts);
extern int	SpannNearestCentre(const float *point, const float *centres, int k, int dim);
extern float *SpannKMeans(const float *points, int npoints, int dim, int nclusters,
						  uint64 seed, int *assignment);
extern float *SpannHierarchicalKMeans(const float *points, int npoints, int dim, int nlists,
									  uint64 seed, int *ncentres);

#endif							/* SPANN_H */
