-- pgvector's documented examples in the shape a user types them: sparse
-- vectors, binary quantization with its re-ranking idiom, and ivfflat with
-- probes and iterative scans.  Answers through an index stand beside the
-- exact ones of a sequential scan.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ann;

-- sparse vectors: '{index:value,...}/dimensions', indices from 1
CREATE TABLE sparse_items (id bigserial PRIMARY KEY, embedding sparsevec(5));
INSERT INTO sparse_items (embedding) VALUES ('{1:1,3:2,5:3}/5'), ('{1:4,3:5,5:6}/5'), ('{2:1,4:1}/5');
SELECT * FROM sparse_items ORDER BY embedding <-> '{1:3,3:1,5:2}/5' LIMIT 5;
SELECT id, embedding <-> '{1:3,3:1,5:2}/5' AS distance FROM sparse_items ORDER BY distance LIMIT 5;
-- an hnsw index answers the same query
CREATE INDEX ON sparse_items USING hnsw (embedding sparsevec_l2_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM sparse_items ORDER BY embedding <-> '{1:3,3:1,5:2}/5' LIMIT 5;
SELECT * FROM sparse_items ORDER BY embedding <-> '{1:3,3:1,5:2}/5' LIMIT 5;
RESET enable_seqscan;
DROP TABLE sparse_items;

-- binary quantization: an index on the bits of each vector, then the
-- exact distance re-ranks the candidates it finds
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));
INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[4,5,6]'), ('[1,-2,3]'), ('[-1,-2,-3]'), ('[2,-1,4]'),
	('[0.5,-3,0.1]'), ('[-4,2,1]'), ('[3,-3,-3]'), ('[1,-1,1]'), ('[-2,-2,2]'), ('[5,-0.5,2]'), ('[0,0,1]');
CREATE INDEX ON items USING hnsw ((binary_quantize(embedding)::bit(3)) bit_hamming_ops);
-- as in pgvector, an untyped literal could be a vector or a halfvec
SELECT binary_quantize('[1,-2,3]');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 5;
SELECT binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) AS hamming
FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 12;
-- re-rank: the 20 nearest by Hamming distance (through the index), then
-- the 5 nearest of them by cosine distance; 20 candidates hold every row
-- here, so the answer is the exact one
SELECT * FROM (
	SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 20
) AS candidates ORDER BY embedding <=> '[1,-2,3]' LIMIT 5;
RESET enable_seqscan;
SELECT * FROM items ORDER BY embedding <=> '[1,-2,3]' LIMIT 5;
DROP TABLE items;

-- ivfflat: lists at build, probes at query time
CREATE TABLE docs (id bigserial PRIMARY KEY, category_id int, embedding vector(3));
INSERT INTO docs (category_id, embedding)
SELECT i % 10, ARRAY[sin(i), cos(i), sin(0.5 * i)] FROM generate_series(1, 1000) i;
CREATE INDEX ON docs USING ivfflat (embedding vector_l2_ops) WITH (lists = 10);
SET enable_indexscan = off;
CREATE TABLE docs_exact AS
SELECT id FROM docs ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 5;
RESET enable_indexscan;
SET enable_seqscan = off;
-- every list probed: the exact answer
SET ivfflat.probes = 10;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 5;
SELECT id FROM docs ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 5;
SELECT id FROM docs_exact;
-- a setting for one transaction
BEGIN;
SET LOCAL ivfflat.probes = 3;
SELECT count(*) FROM (SELECT id FROM docs ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 5) s
WHERE id IN (SELECT id FROM docs_exact);
COMMIT;
SHOW ivfflat.probes;

-- iterative scans: a filtered query probes further lists until it has
-- its rows, up to ivfflat.max_probes
SET ivfflat.probes = 1;
SET ivfflat.iterative_scan = relaxed_order;
SET ivfflat.max_probes = 10;
SELECT count(*), bool_and(category_id = 3) FROM
	(SELECT * FROM docs WHERE category_id = 3 ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 20) s;
-- relaxed order may return a row after a nearer one: re-sort them
WITH relaxed_results AS MATERIALIZED (
	SELECT id, embedding <-> '[0.5,0.5,0.5]' AS distance FROM docs WHERE category_id = 3
	ORDER BY distance LIMIT 5
) SELECT id FROM relaxed_results ORDER BY distance;
-- the exact answer
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT id FROM docs WHERE category_id = 3 ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 5;
RESET enable_indexscan;
RESET ivfflat.probes;
RESET ivfflat.iterative_scan;
RESET ivfflat.max_probes;
DROP TABLE docs, docs_exact;
