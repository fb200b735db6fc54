/*
 * ann.c
 *		Module entry point: the one _PG_init, and extension-wide functions.
 *
 * _PG_init picks the distance kernels for this CPU before anything can
 * call them.  The index access methods add their GUCs here as they come,
 * and the planner hooks are installed: IN (...) on filter columns, and
 * no distance recomputed for rows when no one reads it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "annplanner.h"
#include "annunread.h"
#include "annutils.h"
#include "distance.h"
#include "hnsw.h"
#include "spann.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	AnnDistanceInit();
	AnnScanInit();
	HnswInit();
	SpannInit();
	IvfflatInit();
	AnnPlannerInit();
	AnnUnreadInit();
}

/* ann_simd_level(): the name of the kernel set in use. */
PG_FUNCTION_INFO_V1(ann_simd_level);
Datum
ann_simd_level(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ann_kernels->name));
}
