-- test/bench/hnsw_update.sql: UPDATEs that keep the vector (not HOT: another
-- indexed column changes), on 20,000 fashion-mnist rows.  Run with psql -f
-- against a database loaded by load_fmnist.sh (ann or pgvector).
SET client_min_messages = warning;
DROP TABLE IF EXISTS upd;
CREATE TABLE upd (id int PRIMARY KEY, label int, embedding vector(784));
INSERT INTO upd SELECT id, label, embedding FROM fmnist_train WHERE id <= 20000;
SET maintenance_work_mem = '1GB';
CREATE INDEX ON upd USING hnsw (embedding vector_l2_ops);
CREATE INDEX ON upd (label);
VACUUM ANALYZE upd;
\timing on
-- label is indexed, so these are not HOT updates: every index gets the new row version
UPDATE upd SET label = label + 1 WHERE id <= 2000;
\timing off
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM upd ORDER BY embedding <-> (SELECT embedding FROM upd WHERE id = 5) LIMIT 10) s;
DROP TABLE upd;
