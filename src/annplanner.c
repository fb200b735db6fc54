/*
 * annplanner.c
 *		Let IN (...) on a filter column reach an ordered hnsw or spann scan.
 *
 * PostgreSQL 15's planner never gives an ordered index path a
 * ScalarArrayOpExpr (col = ANY(array), which is what IN (...) becomes) on
 * any index column but the first: for btree such a scan would not come
 * out in index order.  Our scans are ordered by the distance whatever
 * their conditions, so after the planner has made its paths for a table,
 * this hook copies each ordered path of an ann index, adding the
 * = ANY(array) conditions on its filter columns as index conditions, and
 * lets add_path keep the cheaper one.
 */
#include "postgres.h"

#include "nodes/pathnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "utils/lsyscache.h"

#include "annplanner.h"
#include "hnsw.h"
#include "spann.h"

static set_rel_pathlist_hook_type prev_set_rel_pathlist = NULL;

/* Is the access method with this cost estimate function one of ann's? */
bool
AnnIsAnnAccessMethod(amcostestimate_function costestimate)
{
	return costestimate == hnswcostestimate || costestimate == spanncostestimate;
}

static bool
is_ann_index(IndexOptInfo *index)
{
	return AnnIsAnnAccessMethod((amcostestimate_function) index->amcostestimate);
}

/*
 * rinfo as an index condition on column indexcol, if it is
 * column = ANY(array) with the column's equality operator and an array
 * that does not depend on any table.
 */
static IndexClause *
match_any_clause(IndexOptInfo *index, int indexcol, RestrictInfo *rinfo)
{
	ScalarArrayOpExpr *saop;
	Node	   *array;
	Oid			collation = index->indexcollations[indexcol];
	IndexClause *iclause;

	if (!IsA(rinfo->clause, ScalarArrayOpExpr))
		return NULL;
	saop = (ScalarArrayOpExpr *) rinfo->clause;
	array = lsecond(saop->args);
	if (!saop->useOr ||
		!match_index_to_operand(linitial(saop->args), indexcol, index) ||
		!op_in_opfamily(saop->opno, index->opfamily[indexcol]) ||
		(OidIsValid(collation) && collation != saop->inputcollid) ||
		contain_var_clause(array) || contain_volatile_functions(array))
		return NULL;

	iclause = makeNode(IndexClause);
	iclause->rinfo = rinfo;
	iclause->indexquals = list_make1(rinfo);
	iclause->lossy = false;
	iclause->indexcol = indexcol;
	iclause->indexcols = NIL;
	return iclause;
}

/* The = ANY conditions of rel on filter columns of index, by column */
static List *
any_clauses(RelOptInfo *rel, IndexOptInfo *index)
{
	List	   *found = NIL;

	for (int col = 1; col < index->nkeycolumns; col++)
	{
		ListCell   *lc;

		foreach(lc, rel->baserestrictinfo)
		{
			IndexClause *iclause = match_any_clause(index, col, lfirst_node(RestrictInfo, lc));

			if (iclause != NULL)
				found = lappend(found, iclause);
		}
	}
	return found;
}

/* The index conditions of path plus extra, in index column order */
static List *
merge_clauses(IndexOptInfo *index, List *clauses, List *extra)
{
	List	   *merged = NIL;

	for (int col = 0; col < index->nkeycolumns; col++)
	{
		ListCell   *lc;

		foreach(lc, clauses)
			if (lfirst_node(IndexClause, lc)->indexcol == col)
				merged = lappend(merged, lfirst(lc));
		foreach(lc, extra)
			if (lfirst_node(IndexClause, lc)->indexcol == col)
				merged = lappend(merged, lfirst(lc));
	}
	return merged;
}

/* Ordered, unparameterized scans of index among rel's paths */
static List *
ordered_paths(RelOptInfo *rel, IndexOptInfo *index)
{
	List	   *paths = NIL;
	ListCell   *lc;

	foreach(lc, rel->pathlist)
	{
		Path	   *path = (Path *) lfirst(lc);

		if (IsA(path, IndexPath) && ((IndexPath *) path)->indexinfo == index &&
			((IndexPath *) path)->indexorderbys != NIL && path->param_info == NULL)
			paths = lappend(paths, path);
	}
	return paths;
}

static void
add_any_paths(PlannerInfo *root, RelOptInfo *rel, IndexOptInfo *index)
{
	List	   *extra = any_clauses(rel, index);
	ListCell   *lc;

	if (extra == NIL)
		return;
	foreach(lc, ordered_paths(rel, index))
	{
		IndexPath  *path = lfirst_node(IndexPath, lc);
		IndexPath  *with_any;

		with_any = create_index_path(root, index,
									 merge_clauses(index, path->indexclauses, extra),
									 path->indexorderbys, path->indexorderbycols,
									 path->path.pathkeys, ForwardScanDirection, false, NULL,
									 1.0, false);
		add_path(rel, (Path *) with_any);
	}
}

static void
ann_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	ListCell   *lc;

	if (prev_set_rel_pathlist)
		prev_set_rel_pathlist(root, rel, rti, rte);
	/* tables, and partitions or inheritance children of one */
	if ((rel->reloptkind != RELOPT_BASEREL && rel->reloptkind != RELOPT_OTHER_MEMBER_REL) ||
		rte->rtekind != RTE_RELATION)
		return;
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = lfirst_node(IndexOptInfo, lc);

		if (is_ann_index(index) && index->nkeycolumns > 1)
			add_any_paths(root, rel, index);
	}
}

void
AnnPlannerInit(void)
{
	prev_set_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = ann_set_rel_pathlist;
}
