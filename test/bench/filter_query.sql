-- pgbench script of test/bench/filter_bench.sh: the 10 nearest training
-- images, by L2 distance, of a random test image (-D nqueries=N), among the
-- training images that pass that test image's filter.  The script replaces
-- FILTER_COLUMN with the filtered column and FILTER_VALUE with the value the
-- column must have, an expression over the test image q (say label and
-- q.label), so this query and the script's recall query share one filter.
\set qid random(1, :nqueries)
SELECT id FROM fmnist_train
WHERE FILTER_COLUMN = (SELECT FILTER_VALUE FROM fmnist_test q WHERE q.id = :qid)
ORDER BY embedding <-> (SELECT embedding FROM fmnist_test WHERE id = :qid) LIMIT 10;
