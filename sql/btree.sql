-- comparison operators and the btree opclass
SELECT '[1,2,3]'::vector < '[1,2,4]', '[1,2,3]'::vector <= '[1,2,3]', '[1,2,3]'::vector = '[1,2,3]',
	   '[1,2,3]'::vector <> '[1,2,3]', '[1,3]'::vector >= '[1,2,4]', '[1,2]'::vector > '[1,2,3]';
SELECT vector_cmp('[1,2]', '[1,2,0]'), vector_cmp('[2]', '[1,9]'), vector_cmp('[0]', '[-0]');
SELECT '[1,2,3]'::halfvec < '[1,2,4]', '[1,2,3]'::halfvec = '[1,2,3]', '[1,3]'::halfvec > '[1,2,4]';
SELECT halfvec_cmp('[1,2]', '[1,2,0]'), halfvec_cmp('[2]', '[1,9]');

CREATE TABLE bt (id int, v vector, h halfvec);
INSERT INTO bt VALUES (1, '[1,2,3]', '[1,2,3]'), (2, '[1,2]', '[1,2]'), (3, '[0,5]', '[0,5]'),
	(4, '[1,2,3]', '[1,2,3]'), (5, '[-1,100]', '[-1,100]'), (6, NULL, NULL);
SELECT id, v FROM bt ORDER BY v, id;
SELECT id, h FROM bt ORDER BY h DESC, id;
SELECT DISTINCT v FROM bt ORDER BY v;
SELECT v, count(*) FROM bt GROUP BY v ORDER BY v;

CREATE INDEX ON bt (v);
CREATE INDEX ON bt (h);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bt WHERE v = '[1,2,3]';
SELECT id FROM bt WHERE v = '[1,2,3]' ORDER BY id;
SELECT id FROM bt WHERE h > '[1,2]' ORDER BY id;
RESET enable_seqscan;

-- UNIQUE
CREATE UNIQUE INDEX bt_unique ON bt (v);
DELETE FROM bt WHERE id = 4;
CREATE UNIQUE INDEX bt_unique ON bt (v);
INSERT INTO bt VALUES (7, '[1,2,3]', '[1,2,3]');

-- merge join
SET enable_hashjoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT a.id, b.id FROM bt a JOIN bt b ON a.v = b.v;
SELECT a.id, b.id FROM bt a JOIN bt b ON a.v = b.v ORDER BY 1, 2;
RESET enable_hashjoin;
RESET enable_nestloop;
DROP TABLE bt;
