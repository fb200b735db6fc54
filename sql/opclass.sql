-- amvalidate of the hnsw, spann and ivfflat operator classes: every class the
-- extension creates is valid; broken ones are reported (INFO) and false.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ann;
RESET client_min_messages;
SELECT a.amname, count(*) AS opclasses, bool_and(amvalidate(c.oid)) AS all_valid
FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
WHERE a.amname IN ('hnsw', 'spann', 'ivfflat') GROUP BY a.amname ORDER BY a.amname;
-- a distance function of the wrong signature
CREATE OPERATOR CLASS bad_dims_ops FOR TYPE vector USING hnsw AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 vector_dims(vector);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'bad_dims_ops';
DROP OPERATOR CLASS bad_dims_ops USING hnsw;
-- a distance function without an ordering operator
CREATE OPERATOR CLASS no_order_ops FOR TYPE vector USING hnsw AS
	OPERATOR 1 = (vector, vector),
	FUNCTION 1 vector_l2_squared_distance(vector, vector);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'no_order_ops';
DROP OPERATOR CLASS no_order_ops USING hnsw;
-- a filter operator with a strategy number out of range
CREATE OPERATOR CLASS bad_strategy_ops FOR TYPE int2 USING spann AS
	OPERATOR 4 = (int2, int2);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'bad_strategy_ops';
DROP OPERATOR CLASS bad_strategy_ops USING spann;
