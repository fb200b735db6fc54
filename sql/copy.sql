-- COPY round trips, text and binary
CREATE TABLE cp (id int, v vector(3), h halfvec(3));
INSERT INTO cp VALUES (1, '[1,2,3]', '[1,2,3]'), (2, '[-0.1,1e-30,3e30]', '[-0.1,0.0001,60000]'), (3, NULL, NULL);

CREATE TEMP TABLE cp_text (LIKE cp);
COPY cp TO '/tmp/ann_regress_copy.txt';
COPY cp_text FROM '/tmp/ann_regress_copy.txt';
SELECT a.id, a.v = b.v AS same_v, a.h = b.h AS same_h
FROM cp a JOIN cp_text b USING (id) ORDER BY a.id;

CREATE TEMP TABLE cp_bin (LIKE cp);
COPY cp TO '/tmp/ann_regress_copy.bin' WITH (FORMAT binary);
COPY cp_bin FROM '/tmp/ann_regress_copy.bin' WITH (FORMAT binary);
SELECT a.id, a.v = b.v AS same_v, a.h = b.h AS same_h, b.v, b.h
FROM cp a JOIN cp_bin b USING (id) ORDER BY a.id;

-- the binary format: int16 dim, int16 unused, elements big-endian
SELECT vector_send('[1,-2]'::vector), halfvec_send('[1,-2]'::halfvec);

-- binary input of the wrong length or header is refused.  Each file is a
-- PGCOPY header, one tuple with one field, and the trailer.
CREATE TEMP TABLE cp_one (v vector);
CREATE TEMP TABLE cp_one_h (h halfvec);
-- dim 2 but only one float4 follows
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\2\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
-- dim 1 with a trailing extra byte
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\11\0\1\0\0\77\200\0\0\0\377\377"' WITH (FORMAT binary);
-- unused is not 0
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\0\1\77\200\0\0\377\377"' WITH (FORMAT binary);
-- dim 0
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\0\0\0\0\377\377"' WITH (FORMAT binary);
-- a NaN element
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\0\0\177\300\0\0\377\377"' WITH (FORMAT binary);
-- a well-formed one is accepted
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
SELECT * FROM cp_one;
-- halfvec: infinity (0x7c00) is refused, 1.0 (0x3c00) accepted
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\0\174\0\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\5\0\1\0\0\74\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\0\74\0\377\377"' WITH (FORMAT binary);
SELECT * FROM cp_one_h;

-- more bad binary input, with the SQLSTATE of each: dimensions past the
-- limit (16001, and 0xffff and 0x8000, which are negative as int16)
-- before the length is checked, a header cut short, infinite elements,
-- and a value that does not fit the column's typmod
\set VERBOSITY sqlstate
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\76\201\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\377\377\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\200\0\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\2\0\1\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\377\377\77\200\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\0\0\177\200\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\0\0\377\200\0\0\377\377"' WITH (FORMAT binary);
CREATE TEMP TABLE cp_two (v vector(2));
COPY cp_two FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\1\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
-- halfvec: dimensions past the limit, unused not 0, a missing element,
-- NaN (0x7e00) and -Infinity (0xfc00), and the typmod
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\76\201\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\377\377\0\0\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\1\74\0\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\2\0\0\74\0\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\0\176\0\377\377"' WITH (FORMAT binary);
COPY cp_one_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\0\374\0\377\377"' WITH (FORMAT binary);
CREATE TEMP TABLE cp_two_h (h halfvec(2));
COPY cp_two_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\0\74\0\377\377"' WITH (FORMAT binary);
\set VERBOSITY default
-- the messages of the limit and of the typmod
COPY cp_one FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\4\377\377\0\0\377\377"' WITH (FORMAT binary);
COPY cp_two_h FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\6\0\1\0\0\74\0\377\377"' WITH (FORMAT binary);
SELECT count(*) FROM cp_one;
SELECT count(*) FROM cp_one_h;

DROP TABLE cp;
