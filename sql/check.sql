-- ann_check_index: the pages, tuples, links and reachability of hnsw and
-- spann indexes, and with heapallindexed that every row is indexed.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ann;
RESET client_min_messages;
CREATE TABLE chk (id int PRIMARY KEY, v vector(6), h halfvec(6), cat int);
INSERT INTO chk SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), i % 7, (i * 3) % 11, 1],
	ARRAY[cos(i), sin(i), i % 5, 1, 2, 3], i % 4 FROM generate_series(1, 1500) i;
INSERT INTO chk VALUES (0, NULL, NULL, 0), (-1, '[0,0,0,0,0,0]', '[0,0,0,0,0,0]', 1);
CREATE INDEX chk_h_l2 ON chk USING hnsw (v vector_l2_ops);
CREATE INDEX chk_h_cos ON chk USING hnsw (h halfvec_cosine_ops, cat);
CREATE INDEX chk_s_l2 ON chk USING spann (v vector_l2_ops, cat) WITH (lists = 10);
CREATE INDEX chk_s_ip ON chk USING spann (h halfvec_ip_ops);
CREATE INDEX chk_s_l1 ON chk USING spann (v vector_l1_ops) WHERE id % 2 = 0;
SELECT c.relname, ann_check_index(c.oid), ann_check_index(c.oid, true)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE i.indrelid = 'chk'::regclass AND a.amname IN ('hnsw', 'spann') ORDER BY 1;
-- after inserts that split lists, updates, deletes and VACUUM
INSERT INTO chk SELECT i, ARRAY[sin(i), cos(i), sin(3 * i), i % 9, (i * 5) % 13, 2],
	ARRAY[cos(i), sin(i), i % 3, 2, 1, 3], i % 4 FROM generate_series(1501, 4000) i;
UPDATE chk SET v = v + '[1,1,1,1,1,1]' WHERE id % 10 = 0;
UPDATE chk SET cat = cat + 1 WHERE id % 10 = 1;
DELETE FROM chk WHERE id % 3 = 0;
VACUUM chk;
SELECT splits > 0 AS split, merges >= 0 AS merges FROM spann_index_stats('chk_s_l2');
SELECT c.relname, ann_check_index(c.oid, true)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE i.indrelid = 'chk'::regclass AND a.amname IN ('hnsw', 'spann') ORDER BY 1;
-- empty and truncated tables
CREATE TABLE chk_empty (v vector(2));
CREATE INDEX chk_empty_h ON chk_empty USING hnsw (v);
CREATE INDEX chk_empty_s ON chk_empty USING spann (v);
SELECT ann_check_index('chk_empty_h', true), ann_check_index('chk_empty_s', true);
TRUNCATE chk;
SELECT ann_check_index('chk_h_l2', true), ann_check_index('chk_s_l2', true);
-- not an ann index, not an index, no right to read the table
SELECT ann_check_index('chk_pkey');
SELECT ann_check_index('chk');
CREATE ROLE chk_nobody;
SET ROLE chk_nobody;
SELECT ann_check_index('chk_h_l2');
RESET ROLE;
DROP ROLE chk_nobody;
DROP TABLE chk, chk_empty;
