-- pgbench script of test/bench/hnsw_bench.sh: the 10 nearest training
-- images, by L2 distance between halfvec casts (the expression index of
-- metric halfvec), of a random test image (-D nqueries=N).
\set qid random(1, :nqueries)
SELECT id FROM fmnist_train ORDER BY embedding::halfvec(784) <-> (SELECT embedding::halfvec(784) FROM fmnist_test WHERE id = :qid) LIMIT 10;
