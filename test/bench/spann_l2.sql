-- pgbench script of test/bench/spann_bench.sh: the 10 nearest training
-- images, by L2 distance, of a random test image (-D nqueries=N).  The
-- script substitutes its table for fmnist_train.
\set qid random(1, :nqueries)
SELECT id FROM fmnist_train ORDER BY embedding <-> (SELECT embedding FROM fmnist_test WHERE id = :qid) LIMIT 10;
