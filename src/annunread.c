/*
 * annunread.c
 *		Do not compute, for every row an ann index scan returns, a distance
 *		nobody reads.
 *
 * For SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10, the planner
 * puts the ORDER BY expression in the index scan's target list (a junk
 * column) and the executor evaluates it on each row the scan returns:
 * it detoasts the row's vector (and the query's, when it is a toasted
 * value) and computes the distance again.  On fashion-mnist that was 30%
 * of a spann query's time.  When the scan's rows reach only Limit nodes
 * on their way to the top of a plan (the statement's, a subplan's, a
 * subquery scan's or a nested loop's inner side), and the consumer there
 * does not read the column, nothing does: the ordered scan already
 * returns rows in its order.  After planning, this hook replaces such
 * columns by a null constant of the same type.  (A session's first
 * statement is planned before the library is loaded, so it keeps them.)
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "utils/syscache.h"

#include "annplanner.h"
#include "annunread.h"

static planner_hook_type prev_planner = NULL;

static bool
is_ann_index_oid(Oid indexid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(indexid));
	IndexAmRoutine *am;
	bool		result;

	if (!HeapTupleIsValid(tuple))
		return false;
	am = GetIndexAmRoutineByAmId(((Form_pg_class) GETSTRUCT(tuple))->relam, true);
	ReleaseSysCache(tuple);
	if (am == NULL)
		return false;
	result = AnnIsAnnAccessMethod(am->amcostestimate);
	pfree(am);
	return result;
}

/* The column numbers of plan's target list that are not junk */
static Bitmapset *
visible_columns(Plan *plan)
{
	Bitmapset  *columns = NULL;
	ListCell   *lc;

	foreach(lc, plan->targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!tle->resjunk)
			columns = bms_add_member(columns, tle->resno);
	}
	return columns;
}

typedef struct ColumnsRead
{
	int			varno;
	Bitmapset  *columns;
	bool		whole_row;		/* a Var reads the whole row (varattno 0) */
} ColumnsRead;

static bool
columns_read_walker(Node *node, ColumnsRead *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varno == context->varno &&
		((Var *) node)->varlevelsup == 0)
	{
		Var		   *var = (Var *) node;

		if (var->varattno <= 0)
			context->whole_row = true;
		else
			context->columns = bms_add_member(context->columns, var->varattno);
		return false;
	}
	return expression_tree_walker(node, columns_read_walker, (void *) context);
}

/*
 * The columns of the input varno that node's Vars read; NULL (unknown)
 * when one reads the whole row, as SELECT s FROM (...) s does.
 */
static Bitmapset *
columns_read(Node *node, int varno)
{
	ColumnsRead context = {varno, NULL, false};

	columns_read_walker(node, &context);
	return context.whole_row ? NULL : context.columns;
}

/*
 * Replace the columns of scan's target list that are not in read and
 * compute one of the scan's ORDER BY expressions.
 */
static void
drop_unread_distances(IndexScan *scan, Bitmapset *read)
{
	ListCell   *lc;

	if (scan->indexorderbyorig == NIL || !is_ann_index_oid(scan->indexid))
		return;
	foreach(lc, scan->scan.plan.targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node	   *expr = (Node *) tle->expr;

		if (!bms_is_member(tle->resno, read) && list_member(scan->indexorderbyorig, expr))
			tle->expr = (Expr *) makeNullConst(exprType(expr), exprTypmod(expr),
											   exprCollation(expr));
	}
}

static void walk_plans(List *plans);

/*
 * Look for ann index scans below plan.  read is the set of plan's columns
 * that something reads, or NULL when that is not known (all may be; an
 * empty set is taken as unknown too, which only loses a saving).
 */
static void
walk_plan(Plan *plan, Bitmapset *read)
{
	if (plan == NULL)
		return;
	check_stack_depth();
	switch (nodeTag(plan))
	{
		case T_Limit:
			/* WITH TIES compares the rows' ORDER BY columns */
			if (((Limit *) plan)->limitOption == LIMIT_OPTION_WITH_TIES)
				read = NULL;
			walk_plan(outerPlan(plan), read);
			return;
		case T_IndexScan:
			if (read != NULL)
				drop_unread_distances((IndexScan *) plan, read);
			return;
		case T_SubqueryScan:
			walk_plan(((SubqueryScan *) plan)->subplan,
					  columns_read((Node *) list_make2(plan->targetlist, plan->qual),
								   ((SubqueryScan *) plan)->scan.scanrelid));
			return;
		case T_NestLoop:
			/* a LATERAL subquery's LIMIT ends up there */
			walk_plan(outerPlan(plan), NULL);
			walk_plan(innerPlan(plan),
					  columns_read((Node *) list_make3(plan->targetlist, plan->qual,
													   ((Join *) plan)->joinqual),
								   INNER_VAR));
			return;
		case T_Append:
			walk_plans(((Append *) plan)->appendplans);
			break;
		case T_MergeAppend:
			walk_plans(((MergeAppend *) plan)->mergeplans);
			break;
		case T_CustomScan:
			walk_plans(((CustomScan *) plan)->custom_plans);
			break;
		default:
			break;
	}
	walk_plan(outerPlan(plan), NULL);
	walk_plan(innerPlan(plan), NULL);
}

static void
walk_plans(List *plans)
{
	ListCell   *lc;

	foreach(lc, plans)
		walk_plan(lfirst(lc), NULL);
}

/*
 * The junk columns of a SELECT's plan and of every subplan's go unread:
 * the executor's junk filter drops the former, and subplans and CTE scans
 * read only the visible columns of theirs.
 */
static PlannedStmt *
ann_planner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	PlannedStmt *stmt;
	ListCell   *lc;

	if (prev_planner)
		stmt = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);

	if (stmt->commandType == CMD_SELECT)
		walk_plan(stmt->planTree, visible_columns(stmt->planTree));
	else
		walk_plan(stmt->planTree, NULL);
	foreach(lc, stmt->subplans)
	{
		Plan	   *subplan = lfirst(lc);

		if (subplan != NULL)
			walk_plan(subplan, visible_columns(subplan));
	}
	return stmt;
}

void
AnnUnreadInit(void)
{
	prev_planner = planner_hook;
	planner_hook = ann_planner;
}
