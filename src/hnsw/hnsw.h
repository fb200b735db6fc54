/*
 * hnsw.h
 *		The hnsw access method: private definitions.
 *
 * Page layout, tuple states, locking and WAL are described in
 * src/hnsw/README; the on-disk structs below follow it.
 */
#ifndef HNSW_H
#define HNSW_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "lib/pairingheap.h"
#include "nodes/execnodes.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "anncheck.h"
#include "annfilter.h"
#include "annpage.h"
#include "annutils.h"
#include "codes.h"
#include "sparsevec.h"

/* ---------------------------------------------------------------------
 * Limits, defaults, support procedures
 * ---------------------------------------------------------------------
 */
/* vector and halfvec: keys too large for an element tuple go on key pages */
#define HNSW_MAX_DIM			ANN_MAX_DIM
#define HNSW_MAX_HALF_DIM		ANN_MAX_DIM
#define HNSW_MAX_BITS			64000	/* bit */
#define HNSW_MAX_NNZ			1000	/* sparsevec: non-zero elements */
/* quantization auto: codes from this many dimensions (below, keys are small) */
#define HNSW_AUTO_CODE_DIMS		256
/* reloption code_bits: bits per dimension of a code */
#define HNSW_DEFAULT_CODE_BITS	1

#define HNSW_DEFAULT_M			16
#define HNSW_MIN_M				2
#define HNSW_MAX_M				100
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
#define HNSW_MIN_EF_CONSTRUCTION 4
#define HNSW_MAX_EF_CONSTRUCTION 1000
#define HNSW_DEFAULT_EF_SEARCH	40
#define HNSW_MIN_EF_SEARCH		1
#define HNSW_MAX_EF_SEARCH		1000
#define HNSW_DEFAULT_MAX_SCAN_TUPLES 20000
/* Matches that judge a filter's selectivity from part of the directory */
#define HNSW_SAMPLE_MATCHES		64
/* A filtered graph search may meet this share of the matching elements */
#define HNSW_FILTER_GRAPH_SHARE	0.5
/*
 * What a scan holds, at most, per element: one listed for the exact
 * filtered search (its reference, then a candidate in two heaps), and one
 * met by a graph search (a visited-set entry with the hash table's slack,
 * a candidate on the frontier or a discarded pile)
 */
#define HNSW_EXACT_MATCH_BYTES	(sizeof(HnswRef) + 2 * sizeof(HnswCandidate))
#define HNSW_MET_BYTES			128

/* strict_order sweeps the index once it has met 1/this of the elements */
#define HNSW_SWEEP_DIVISOR		8
#define HNSW_HEAPTIDS			10	/* heap rows one element can stand for */
/* most results a search that counts ties once holds (HnswSearchCountTiesOnce) */
#define HNSW_TIED_RESULTS		1024
#define HNSW_TIE_SLOTS			(4 * HNSW_TIED_RESULTS)	/* a power of two */
#define HNSW_WITNESSES			2	/* neighbours asked whether they link back */
#define HNSW_MAX_LEVEL			12	/* neighbour tuple of m = 100 fits a page */

/* Heavyweight lock tags (page numbers of LockPage, not real pages) */
#define HNSW_UPDATE_LOCK		0

/* Build sub-phases reported in pg_stat_progress_create_index */
#define HNSW_PHASE_GRAPH		2
#define HNSW_PHASE_WRITE		3

/* ---------------------------------------------------------------------
 * Page IDs and magic
 * ---------------------------------------------------------------------
 */
#define HNSW_MAGIC				0xA7A50001
#define HNSW_VERSION			5

/* The rotation of keys before they are coded (hnswcodes.c) */
#define HNSW_ROTATION_SEED		UINT64CONST(0x9e3779b97f4a7c15)

/* reloption quantization */
typedef enum HnswQuantization
{
	HNSW_QUANTIZATION_AUTO,		/* codes where the index can have them */
	HNSW_QUANTIZATION_NONE,
	HNSW_QUANTIZATION_RABITQ	/* codes, or an error where they cannot be */
} HnswQuantization;

#define HNSW_PAGE_META			0x0001
#define HNSW_PAGE_ELEMENTS		0x0002
#define HNSW_PAGE_SIGNATURES	0x0004	/* the signature directory (hnswfilter.c) */
#define HNSW_PAGE_KEY			0x0008	/* part of a long key (AnnWriteLongKey) */

#define HNSW_ELEMENT_TUPLE		1
#define HNSW_NEIGHBOR_TUPLE		2
#define HNSW_SIGNATURE_TUPLE	3

/* ---------------------------------------------------------------------
 * On-disk structs (see README, "Page layout")
 * ---------------------------------------------------------------------
 */

/* Block 0, stored below pd_lower so generic WAL keeps it */
typedef struct HnswMetaPageData
{
	AnnMetaHeaderData header;	/* HNSW_MAGIC, HNSW_VERSION */
	uint32		dimensions;		/* of every key */
	uint16		m;				/* reloption m */
	uint16		ef_construction;	/* reloption ef_construction */
	ItemPointerData entry;		/* entry element, invalid when empty */
	int16		entry_level;	/* its level, -1 when empty */
	BlockNumber insert_page;	/* first page that may have room */
	BlockNumber signature_head; /* signature directory, invalid without filter columns */
	BlockNumber signature_tail; /* its last page, where entries go */
	uint64		signature_count;	/* its entries, stale ones included */
	uint16		code_words;		/* 64-bit words of a plane of a layer-0 code; 0: no codes */
	uint16		code_bits;		/* bits per dimension of a code (0, in indexes
								 * made before code_bits: one) */
	/* with codes, the centre they are relative to follows: dimensions floats */
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

/* One indexed vector and the heap rows that hold it */
typedef struct HnswElementTupleData
{
	uint8		type;			/* HNSW_ELEMENT_TUPLE */
	uint8		level;			/* top layer of the element */
	uint8		deleted;		/* 1: removed by VACUUM, slot reusable */
	uint8		unused;
	ItemPointerData heaptids[HNSW_HEAPTIDS];	/* invalid ones are free */
	ItemPointerData neighbortid;	/* the element's neighbour tuple */
	uint16		padding;		/* the key below is 4-byte aligned */
	char		key[FLEXIBLE_ARRAY_MEMBER]; /* Vector, HalfVector or VarBit, then the
											 * signatures of filter columns */
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

/*
 * Neighbour lists of one element: layer 0 has 2m slots, others m.  In an
 * index with codes, the 2m codes of the layer-0 neighbours follow the
 * slots (HnswSlotCodes), one HnswSlotCode per layer-0 slot.
 */
typedef struct HnswNeighborTupleData
{
	uint8		type;			/* HNSW_NEIGHBOR_TUPLE */
	uint8		level;			/* level of the owning element */
	uint16		nslots;			/* (level + 2) * m */
	ItemPointerData slots[FLEXIBLE_ARRAY_MEMBER];	/* element TIDs; invalid = empty */
} HnswNeighborTupleData;

/*
 * The code of a layer-0 neighbour: RaBitQ (codes.h) of its rotated key
 * relative to the index's rotated centre, and <x, c> for inner products.
 * The words (one plane per bit) are followed, in a code of more than one
 * bit, by its length |y| (a float in 8 bytes; HnswSlotLength), then by
 * the neighbour's filter signatures (one AnnSignature per filter column;
 * HnswSlotSignatures), so that a search knows which neighbours match
 * without reading them.
 */
typedef struct HnswSlotCode
{
	AnnCodeFactors factors;
	float		inner;			/* <x, centre>, rotated */
	uint64		words[FLEXIBLE_ARRAY_MEMBER];
} HnswSlotCode;

typedef HnswNeighborTupleData *HnswNeighborTuple;

/* An entry of the signature directory: an element and its signatures */
typedef struct HnswSignatureTupleData
{
	uint8		type;			/* HNSW_SIGNATURE_TUPLE */
	uint8		unused;
	ItemPointerData element;	/* the element's TID */
	AnnSignature signatures[FLEXIBLE_ARRAY_MEMBER]; /* one per filter column */
} HnswSignatureTupleData;

typedef HnswSignatureTupleData *HnswSignatureTuple;

#define HNSW_ELEMENT_TUPLE_SIZE(keysize) \
	MAXALIGN(offsetof(HnswElementTupleData, key) + (keysize))
/* the largest element tuple a page can hold on its own */
#define HNSW_MAX_ELEMENT_TUPLE_SIZE \
	MAXALIGN_DOWN(BLCKSZ - SizeOfPageHeaderData - sizeof(ItemIdData) - \
				  MAXALIGN(sizeof(AnnPageOpaqueData)))
/* bytes of a neighbour tuple's slots, before any codes */
#define HNSW_NEIGHBOR_SLOTS_SIZE(nslots) \
	MAXALIGN(offsetof(HnswNeighborTupleData, slots) + sizeof(ItemPointerData) * (nslots))

static inline int
HnswSlotCount(int level, int m)
{
	return (level + 2) * m;
}

/* Slots of a layer: [HnswLayerStart, HnswLayerStart + HnswLayerSlots) */
static inline int
HnswLayerSlots(int layer, int m)
{
	return layer == 0 ? 2 * m : m;
}

static inline int
HnswLayerStart(int layer, int m)
{
	return layer == 0 ? 0 : (layer + 1) * m;
}

/* ---------------------------------------------------------------------
 * In-memory state
 * ---------------------------------------------------------------------
 */

/*
 * How an index with codes codes its layer-0 neighbours (hnswcodes.c): the
 * rotation, and the centre rotated
 */
typedef struct HnswCodeInfo
{
	int			padded;			/* rotated dimensions */
	int			words;			/* 64-bit words of a plane (one bit per dimension) */
	int			bits;			/* planes: bits per dimension */
	float		sign_length;	/* |y| of every one-bit code (AnnCodeSignLength) */
	Size		length_offset;	/* where in a slot its |y| is; 0: one bit */
	Size		signature_offset;	/* where in a slot the signatures start */
	Size		slot_size;		/* bytes of an HnswSlotCode, signatures included */
	AnnRotation *rotation;
	float	   *centre;			/* rotated, padded floats */
	float		centre_norm2;	/* |centre|^2 */
	const AnnCodeKernels *kernels;
} HnswCodeInfo;

/* Index-wide facts, cached in rd_amcache */
typedef struct HnswIndexInfo
{
	BlockNumber *known_nblocks; /* AnnReadLinkedBuffer's count, per backend */
	AnnDistanceInfo dist;
	int			dimensions;
	int			m;
	int			ef_construction;
	AnnFilterColumns filters;	/* index columns after the vector */
	Size		keysize;		/* bytes of a stored key, signatures included;
								 * 0 when keys vary (sparsevec): see
								 * HnswStoredKeySize */
	Size		filter_offset;	/* where in it the signatures start */
	Size		long_keysize;	/* bytes of a key kept on key pages, not in its
								 * element tuple, which holds an AnnLongKeyRef
								 * and the signatures; 0: none */
	HnswCodeInfo *codes;		/* NULL: the index has no codes */
} HnswIndexInfo;


/* Bytes of the 2m layer-0 codes a neighbour tuple holds (0 without codes) */
static inline Size
HnswCodesSize(const HnswIndexInfo *info)
{
	return info->codes != NULL ? 2 * info->m * info->codes->slot_size : 0;
}

/* Bytes of a neighbour tuple of level, codes included */
static inline Size
HnswNeighborTupleSize(const HnswIndexInfo *info, int level)
{
	return HNSW_NEIGHBOR_SLOTS_SIZE(HnswSlotCount(level, info->m)) + HnswCodesSize(info);
}

/* The code of layer-0 slot i of a neighbour tuple; the index has codes */
static inline HnswSlotCode *
HnswSlotCodes(const HnswIndexInfo *info, HnswNeighborTuple neighbors, int i)
{
	return (HnswSlotCode *) ((char *) neighbors + HNSW_NEIGHBOR_SLOTS_SIZE(neighbors->nslots) +
							 i * info->codes->slot_size);
}

/* The filter signatures of the neighbour a slot code codes */
static inline const char *
HnswSlotSignatures(const HnswIndexInfo *info, const HnswSlotCode *code)
{
	return (const char *) code + info->codes->signature_offset;
}

/* |y| of a slot code (codes.h) */
static inline float
HnswSlotLength(const HnswCodeInfo *codes, const HnswSlotCode *code)
{
	if (codes->length_offset == 0)
		return codes->sign_length;
	return *(const float *) ((const char *) code + codes->length_offset);
}

/* Bytes of the stored key at key: its varlena, then any signatures */
static inline Size
HnswStoredKeySize(const HnswIndexInfo *info, const char *key)
{
	if (info->keysize > 0)
		return info->keysize;
	return AnnFilterKeySize(&info->filters, VARSIZE(key));
}

/* Are the stored keys at a and b the same bytes? */
static inline bool
HnswSameStoredKey(const HnswIndexInfo *info, const char *a, const char *b)
{
	Size		size = HnswStoredKeySize(info, a);

	return size == HnswStoredKeySize(info, b) && memcmp(a, b, size) == 0;
}

/* The filter signatures of the stored key at key */
static inline const char *
HnswKeySignatures(const HnswIndexInfo *info, const char *key)
{
	if (info->keysize > 0)
		return key + info->filter_offset;
	return key + AnnFilterOffset(VARSIZE(key));
}

/* Bytes of the key field of an element tuple for the stored key at key */
static inline Size
HnswTupleKeySize(const HnswIndexInfo *info, const char *key)
{
	if (info->long_keysize > 0)
		return sizeof(AnnLongKeyRef) + sizeof(AnnSignature) * info->filters.ncolumns;
	return HnswStoredKeySize(info, key);
}

/*
 * A reference to an element: an index into the build graph while it is
 * in memory, or a packed element TID on disk.
 */
typedef uint64 HnswRef;

#define HNSW_NO_REF				PG_UINT64_MAX

/* Is ref one of refs[0..n)? */
static inline bool
HnswHoldsRef(const HnswRef *refs, int n, HnswRef ref)
{
	for (int i = 0; i < n; i++)
		if (refs[i] == ref)
			return true;
	return false;
}

static inline HnswRef
HnswTidToRef(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumber(tid) << 16) | ItemPointerGetOffsetNumber(tid);
}

static inline void
HnswRefToTid(HnswRef ref, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (ref >> 16), (OffsetNumber) (ref & 0xFFFF));
}

/*
 * One element found by a search: its distance to the query, and a bound
 * below which the distance is not (almost surely): the distance itself
 * unless it is an estimate from a code (HnswSearchLayerCoded)
 */
typedef struct HnswCandidate
{
	HnswRef		ref;
	float		distance;
	float		bound;
} HnswCandidate;

/*
 * What choosing links asks of a graph that keeps keys (the build's in
 * memory, or the disk graph): the distance between two elements' keys,
 * and an element's stored key, NULL when it is gone
 */
typedef struct HnswPairOps
{
	float		(*distance) (void *graph, HnswRef a, HnswRef b);
	const char *(*stored_key) (void *graph, HnswRef ref);
} HnswPairOps;

/* A binary heap of candidates, nearest or farthest on top */
typedef struct HnswHeap
{
	HnswCandidate *items;
	int			count;
	int			capacity;
	bool		max_on_top;
} HnswHeap;

/*
 * What a search needs from a graph, in memory or on disk.  The query is
 * part of the graph object.  The last three are optional (NULL): a graph
 * that wraps another can use them to shape a search (hnswfilter.c).
 */
typedef struct HnswGraphOps
{
	/* first visit of ref on this layer? (marks it visited) */
	bool		(*visit) (void *graph, HnswRef ref, int layer);
	/*
	 * Query distances of n elements met on one layer (the search marked
	 * them visited first); ok[i] is false when refs[i] must be skipped.
	 * One call per expanded element lets an implementation overlap the
	 * memory latency of fetching the n keys.
	 */
	void		(*distances) (void *graph, const HnswRef *refs, int n, float *distances,
							  bool *ok);
	/* the element's neighbours at layer into out; returns how many */
	int			(*neighbors) (void *graph, HnswRef ref, int layer, HnswRef *out);
	/* may the search return this element it has met?  NULL: any */
	bool		(*is_result) (void *graph, HnswRef ref);
	/* must a layer search for ef results stop now?  NULL: never */
	bool		(*stop) (void *graph, int ef);
	/*
	 * An element met that is not among the final results: evicted, a
	 * result pushed out by nearer ones (it went on the frontier), else
	 * one never put on the frontier.  NULL: forget it.
	 */
	void		(*leftover) (void *graph, const HnswCandidate *c, bool evicted);
	/*
	 * Layer 0 of an index with codes: the element's neighbours not visited
	 * yet (now marked visited) into out, with their distances estimated
	 * from the codes stored beside the links (no element's key is read);
	 * returns how many, or -1 when the element is gone.  NULL: no codes.
	 */
	int			(*coded_neighbors) (void *graph, HnswRef ref, HnswCandidate *out);
	/*
	 * The search will likely expand ref next: start fetching what
	 * neighbors will read.  NULL: nothing to prefetch.
	 */
	void		(*prefetch) (void *graph, HnswRef ref, int layer);
} HnswGraphOps;

/*
 * The distances a search's results lie at, when it counts ties once: an
 * open-addressing table, which a scan keeps across its rescans (a new
 * stamp empties it)
 */
typedef struct HnswTieTable
{
	uint32		stamp;
	uint32		stamps[HNSW_TIE_SLOTS]; /* a slot is empty unless it has stamp */
	uint32		keys[HNSW_TIE_SLOTS];	/* a distance's bits */
	int32		counts[HNSW_TIE_SLOTS]; /* results at it */
} HnswTieTable;

/* Reusable search state over one graph */
typedef struct HnswSearch
{
	const HnswGraphOps *ops;
	void	   *graph;
	HnswHeap	candidates;		/* nearest on top: still to expand */
	HnswHeap	results;		/* farthest on top: the best ef so far */
	HnswRef    *neighbors;		/* scratch, 2 * m slots */
	HnswRef    *fresh;			/* scratch: neighbours not visited yet */
	float	   *fresh_distances;
	bool	   *fresh_ok;
	HnswCandidate *coded;		/* scratch: neighbours with code estimates */

	/*
	 * With a tie table, results at one distance count once toward ef, and
	 * the results hold at most Max(ef, HNSW_TIED_RESULTS)
	 * (HnswSearchCountTiesOnce); NULL: ties count as any results
	 */
	HnswTieTable *tie_table;
	int			tie_used;		/* slots with a distance */
	int			ties;			/* results beyond the first at their distance */
} HnswSearch;

/* what became of a conditional write of a layer list */
typedef enum HnswListWrite
{
	HNSW_LIST_WRITTEN,
	HNSW_LIST_CHANGED,			/* another backend wrote it first: start over */
	HNSW_LIST_GONE				/* VACUUM freed the element meanwhile */
} HnswListWrite;

/*
 * What a disk search remembers of each element it met.  Entries live in
 * a hash table that moves them when it grows: copy fields out rather than
 * keep a pointer across calls that may add entries.
 */
typedef struct HnswVisitEntry
{
	HnswRef		ref;			/* hash key */
	char		status;			/* used by simplehash */
	int8		layer;			/* lowest layer visited on, or HNSW_UNVISITED */
	uint8		level;			/* element level, once read */
	bool		read;			/* level and neighbortid are known */
	bool		matches;		/* meets the graph's filter, once read */
	bool		dead;			/* had no heap TID left when read (VACUUM pass 1) */
	ItemPointerData neighbortid;
	void	   *key;			/* copy of the key, when the graph keeps keys */
	HnswRef		parent;			/* whose neighbours on its lowest layer visited
								 * the search first met it among; HNSW_NO_REF
								 * where it started that layer's search */
} HnswVisitEntry;

#define HNSW_UNVISITED			INT8_MAX

struct hnswvisit_hash;

/*
 * The graph in index pages, as a search sees it.  Pages are read under a
 * share lock held only while one tuple is examined; the last page stays
 * pinned to save a lookup when the next tuple is on it too.
 */
typedef struct HnswDiskGraph
{
	Relation	index;
	const HnswIndexInfo *info;
	const void *query;			/* elements of the query key */
	bool		keep_keys;		/* copy keys into visit entries */
	struct hnswvisit_hash *visited;
	HnswRef		expanding;		/* whose neighbours a search visits now */
	int			expanding_layer;	/* and on which layer */
	Buffer		buffer;			/* pinned page, or InvalidBuffer */
	Buffer	   *pins;			/* scratch for a batch of distances */
	char	   *scratch;		/* a long key read from its pages, or NULL */
	/* optional filter: elements for which it returns true are skipped */
	bool		(*skip) (void *arg, HnswRef ref);
	void	   *skip_arg;
	/* optional scan conditions on filter columns, tested as elements are read */
	const AnnFilter *filter;
	/* a scan of an index with codes: the query prepared for them, or NULL */
	struct HnswCodeQuery *code_query;
} HnswDiskGraph;

extern const HnswGraphOps hnsw_disk_graph_ops;

/*
 * The graph as a filtered or iterative scan searches it: the disk graph,
 * with the budget and the leftovers of hnswfilter.c's wrapping
 * operations (hnsw_scan_graph_ops).
 */
typedef struct HnswScanGraph
{
	HnswDiskGraph *disk;
	bool		filtering;		/* only elements matching the filter are results */
	int64		budget;			/* stop a layer search after meeting this many; -1: no limit */
	int64		met;			/* elements met since the budget was set */
	int64		matched;		/* of them, matching the filter */
	bool		over_budget;	/* a layer search stopped at the budget */
	bool		keep_leftovers; /* collect what did not make the results */
	HnswHeap	discarded;		/* unordered pile: met, never on the frontier */
	HnswHeap	evicted;		/* unordered pile: results pushed out */
} HnswScanGraph;

/*
 * What a walk over the whole graph notes of each element or neighbour
 * tuple, by TID: ann_check_index (hnswcheck.c) and VACUUM's reconnection
 * of unreachable elements (hnswvacuum.c).  A map from hnswutils.c.
 */
typedef struct HnswWalkEntry
{
	HnswRef		ref;			/* hash key */
	char		status;			/* used by simplehash */
	uint8		type;			/* HNSW_ELEMENT_TUPLE or HNSW_NEIGHBOR_TUPLE */
	uint8		level;
	bool		deleted;
	bool		live;			/* an element with a heap TID */
	bool		reached;		/* by the walk from the entry point */
	HnswRef		neighbors;		/* an element's neighbour tuple */
} HnswWalkEntry;

#define SH_PREFIX		hnswwalk
#define SH_ELEMENT_TYPE HnswWalkEntry
#define SH_KEY_TYPE		HnswRef
#define SH_SCOPE		extern
#define SH_DECLARE
#include "lib/simplehash.h"

/* ---------------------------------------------------------------------
 * Functions
 * ---------------------------------------------------------------------
 */

/* hnsw.c */
typedef enum HnswIterativeScan
{
	HNSW_ITERATIVE_OFF,
	HNSW_ITERATIVE_RELAXED,
	HNSW_ITERATIVE_STRICT
} HnswIterativeScan;

extern int	hnsw_ef_search;
extern int	hnsw_iterative_scan;
extern int	hnsw_max_scan_tuples;
extern double hnsw_scan_mem_multiplier;
extern bool hnsw_quantized_search;
extern HnswQuantization HnswGetQuantization(Relation index);
extern int	HnswGetCodeBits(Relation index);
extern void HnswInit(void);
extern int	HnswGetM(Relation index);
extern int	HnswGetEfConstruction(Relation index);
extern void HnswCheckEfConstruction(int m, int ef_construction);
extern void hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
							 Cost *indexStartupCost, Cost *indexTotalCost,
							 Selectivity *indexSelectivity, double *indexCorrelation,
							 double *indexPages);

/* hnswcodes.c */
typedef struct HnswCodeQuery HnswCodeQuery;
extern void HnswCodeInfoInit(HnswIndexInfo *info, int code_words, int code_bits,
							 const float *centre, MemoryContext cxt);
extern const char *HnswCodesRefusal(const HnswIndexInfo *info, int code_bits);
extern Size HnswMetaCentreSize(const HnswIndexInfo *info);
extern void HnswEncodeKey(const HnswIndexInfo *info, const char *stored, HnswSlotCode *out);
extern HnswCodeQuery *HnswCodeQueryCreate(const HnswIndexInfo *info, const void *query);
extern float HnswCodeDistance(const HnswIndexInfo *info, const HnswCodeQuery *cq,
							  const HnswSlotCode *code, float *bound);
extern void HnswSetSlotCodes(const HnswIndexInfo *info, HnswNeighborTuple neighbors,
							 const HnswSlotCode *codes, int n);
extern void HnswCopySlotCode(const HnswIndexInfo *info, HnswSlotCode *to, const HnswSlotCode *from);
extern HnswSlotCode *HnswCodesOf(HnswDiskGraph *graph, const HnswRef *refs, int n,
								 const HnswRef *skip, int nskip);

/* hnswcheck.c */
extern void HnswCheckIndex(Relation index, AnnTidSet *tids, Relation heap, Snapshot snapshot);

/* hnswbuild.c */
extern IndexBuildResult *hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void hnswbuildempty(Relation index);

/* hnswelement.c */
extern Datum HnswFormKey(const HnswIndexInfo *info, Datum *values, bool *isnull, bool *usable);
extern bool HnswSearchDescend(HnswSearch *search, HnswRef entry, int entry_level, int top);
extern int	HnswSearchCandidates(HnswSearch *search, int ef, int layer, HnswCandidate *found);
extern int	HnswSelectLayer(const HnswIndexInfo *info, int layer, const HnswCandidate *sorted,
							int n, const HnswPairOps *ops, void *graph,
							HnswCandidate *selected, int *ndiverse);
extern int	HnswReselectFull(const HnswIndexInfo *info, int layer, HnswCandidate *candidates,
							 int n, HnswRef new_ref, float distance, const HnswPairOps *ops,
							 void *graph, HnswCandidate *kept, int *ndiverse);
extern bool HnswTwins(const HnswIndexInfo *info, const HnswPairOps *ops, void *graph,
					  HnswRef a, HnswRef b, float distance);
extern int	HnswFindCopy(const HnswIndexInfo *info, const HnswPairOps *ops, void *graph,
						 const char *key, const HnswCandidate *found, int nfound, int from);
extern int	HnswFindTwin(const HnswIndexInfo *info, const HnswCandidate *found, int nfound);
extern void HnswFormElementTuple(const HnswIndexInfo *info, HnswElementTuple out, int level,
								 const char *key, BlockNumber key_page,
								 const ItemPointerData *heaptids, int n);
extern void HnswFormNeighborTuple(const HnswIndexInfo *info, HnswNeighborTuple out, int level);

/* hnswinsert.c */
extern bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
					   Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
					   IndexInfo *indexInfo);
extern void HnswInsertKey(Relation index, Datum key, ItemPointer heap_tid, bool building,
						  bool unchanged_hint);

/* hnswscan.c */
extern IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
extern void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
					   int norderbys);
extern bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnswendscan(IndexScanDesc scan);

/* hnswvacuum.c */
extern IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);
extern void HnswLinkOrphans(Relation index);
extern void HnswLinkKnownOrphans(Relation index, const ItemPointerData *reached, int64 nreached,
								 const ItemPointerData *orphans, int64 norphans);

/* hnswutils.c */
extern const HnswIndexInfo *HnswGetIndexInfo(Relation index);
extern void HnswReadMeta(Relation index, HnswMetaPageData *meta);
extern void HnswInitMetaPage(Page page, const HnswIndexInfo *info);
extern void HnswWriteCentre(Relation index, const float *centre);
extern void HnswSetKeySize(Relation index, HnswIndexInfo *info);
extern bool HnswElementSizeMatches(const HnswIndexInfo *info, const char *key, Size len);
extern int	HnswRandomLevel(const HnswIndexInfo *info, ItemPointer heaptid);
extern HnswElementTuple HnswPageGetElement(Relation index, BlockNumber blkno, Page page,
										   OffsetNumber offno);
extern HnswNeighborTuple HnswPageGetNeighbors(Relation index, BlockNumber blkno, Page page,
											  OffsetNumber offno);
extern void HnswSetLayerSlots(HnswNeighborTuple neighbors, int layer, int m,
							  const HnswRef *refs, int n);
extern HnswListWrite HnswWriteLayerIfUnchanged(HnswDiskGraph *graph, bool building,
											   ItemPointer neighbortid, int layer,
											   const HnswRef *current, int ncurrent,
											   const HnswRef *wanted, int nwanted);
extern const char *HnswElementStoredKey(Relation index, const HnswIndexInfo *info,
										HnswElementTuple element, char *scratch);
extern const char *HnswElementSignatures(const HnswIndexInfo *info, HnswElementTuple element);
extern void HnswResolveDistance(Relation index, AnnDistanceInfo *dist);
extern void HnswDiskGraphInit(HnswDiskGraph *graph, Relation index, bool keep_keys);
extern void HnswDiskGraphReset(HnswDiskGraph *graph, const void *query);
extern void HnswDiskGraphRelease(HnswDiskGraph *graph);
extern Page HnswDiskGraphLockPage(HnswDiskGraph *graph, BlockNumber blkno);
extern int64 HnswSweepUnvisited(HnswDiskGraph *graph, int keep, HnswHeap *nearest);
extern HnswVisitEntry *HnswDiskGraphEntry(HnswDiskGraph *graph, HnswRef ref);
extern const char *HnswDiskGraphStoredKey(HnswDiskGraph *graph, HnswRef ref);
extern const void *HnswDiskGraphKey(HnswDiskGraph *graph, HnswRef ref);
extern int	HnswDiskGraphHeapTids(HnswDiskGraph *graph, HnswRef ref, ItemPointerData *tids);
extern int	HnswDiskGraphNeighbors(HnswDiskGraph *graph, HnswRef ref, int layer, HnswRef *out);
extern float HnswDiskGraphPairDistance(void *graph, HnswRef a, HnswRef b);
extern const HnswPairOps hnsw_disk_pair_ops;
extern bool HnswDiskGraphTwins(HnswDiskGraph *graph, HnswRef a, HnswRef b);
extern int	HnswTwinLinkAt(HnswDiskGraph *graph, HnswRef owner, const HnswRef *links, int n);
extern int	HnswFarthestLink(HnswDiskGraph *graph, HnswRef owner, const HnswRef *links, int n,
							 const HnswRef *refs, int nrefs, bool in_refs);
extern bool HnswDiskGraphMatches(HnswDiskGraph *graph, HnswRef ref);

/* hnswfilter.c */
extern void HnswBuildSignatureDirectory(Relation index);
extern void HnswAppendSignature(Relation index, ItemPointer element, const char *signatures,
								bool building);
extern bool HnswMatchingElements(Relation index, const AnnFilter *filter, int64 limit,
								 HnswRef **refs, int *n, double *estimate);
extern void HnswExactSearch(HnswDiskGraph *graph, const HnswRef *refs, int n, HnswHeap *found,
							bool matching_only);
extern const HnswGraphOps hnsw_scan_graph_ops;
extern void HnswScanGraphInit(HnswScanGraph *graph, HnswDiskGraph *disk);
extern void HnswScanGraphSetBudget(HnswScanGraph *graph, int64 budget);

/* hnswgraph.c */
extern void HnswHeapInit(HnswHeap *heap, int capacity, bool max_on_top);
extern void HnswHeapPush(HnswHeap *heap, HnswRef ref, float distance);
extern void HnswHeapPushBounded(HnswHeap *heap, HnswRef ref, float distance, float bound);
extern HnswCandidate HnswHeapPop(HnswHeap *heap);
extern HnswCandidate HnswHeapRemove(HnswHeap *heap, int i);
extern void HnswHeapAppend(HnswHeap *heap, HnswRef ref, float distance);
extern void HnswHeapAppendBounded(HnswHeap *heap, HnswRef ref, float distance, float bound);
extern void HnswSearchInit(HnswSearch *search, const HnswGraphOps *ops, void *graph, int m);
extern void HnswSearchCountTiesOnce(HnswSearch *search, const HnswIndexInfo *info,
									HnswTieTable **table, MemoryContext cxt);
extern bool HnswSearchResultsFull(const HnswSearch *search, int ef);
extern bool HnswSearchStart(HnswSearch *search, HnswRef entry, int layer);
extern void HnswSearchLayer(HnswSearch *search, int ef, int layer);
extern int	HnswSearchExpand(HnswSearch *search, HnswHeap *found);
extern void HnswSearchRestart(HnswSearch *search, int layer);
extern void HnswSearchDropNonResults(HnswSearch *search);
extern void HnswSearchSeed(HnswSearch *search, const HnswCandidate *items, int n, int layer);
extern void HnswSearchLayerCoded(HnswSearch *search, int ef);
extern int	HnswSortedResults(HnswSearch *search, HnswCandidate *out);
extern int	HnswCompareCandidates(const void *a, const void *b);
extern int	HnswSelectNeighbors(const HnswCandidate *sorted, int ncandidates, int max_neighbors,
								const HnswIndexInfo *info, const HnswPairOps *ops, void *graph,
								HnswCandidate *selected, int *ndiverse);

#endif							/* HNSW_H */
