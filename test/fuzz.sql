-- test/fuzz.sql: the server side of test/fuzz (test/fuzz_driver.c).
--
-- fuzz.run(kind, inputs, modes) feeds each input of a batch to the
-- function the kind names, each in its own subtransaction, and returns
-- the SQLSTATE of every outcome ('00000': accepted) with how often it
-- occurred and its first input and message.  A value that is accepted
-- and prints as text that does not read back to the same value is
-- reported as 'ROUND' (not a SQLSTATE).  Which outcomes are acceptable
-- is the driver's business.
--
-- Inputs are text; a kind that needs several arguments takes them
-- separated by '|' (no generated value holds one).  modes[i] is a small
-- integer whose meaning depends on the kind (a typmod, which type).
CREATE EXTENSION IF NOT EXISTS ann;
DROP SCHEMA IF EXISTS fuzz CASCADE;
CREATE SCHEMA fuzz;

-- Tables the reloptions kind builds indexes on: few rows, every opclass
-- reachable through the default.
CREATE TABLE fuzz.tv (v vector(3));
CREATE TABLE fuzz.th (v halfvec(3));
INSERT INTO fuzz.tv SELECT ARRAY[sin(i), cos(i), i % 5] FROM generate_series(1, 40) i;
INSERT INTO fuzz.th SELECT v FROM fuzz.tv;

-- One input of a batch; raises whatever the input raises.  Returns false
-- when an accepted value fails its round trip.
CREATE FUNCTION fuzz.one(kind text, s text, mode int) RETURNS bool
LANGUAGE plpgsql AS $$
DECLARE
	v vector;
	h halfvec;
	sv sparsevec;
	st float8[];
	a text := split_part(s, '|', 1);
	b text := split_part(s, '|', 2);
	c text := split_part(s, '|', 3);
BEGIN
	CASE kind
	WHEN 'text vector' THEN
		v := vector_in(s::cstring, 0, mode);
		RETURN v::text::vector = v;
	WHEN 'text halfvec' THEN
		h := halfvec_in(s::cstring, 0, mode);
		RETURN h::text::halfvec = h;
	WHEN 'text sparsevec' THEN
		sv := sparsevec_in(s::cstring, 0, mode);
		RETURN sv::text::sparsevec = sv;
	WHEN 'typmod' THEN
		CASE mode
		WHEN 0 THEN PERFORM vector_typmod_in(s::cstring[]);
		WHEN 1 THEN PERFORM halfvec_typmod_in(s::cstring[]);
		WHEN 2 THEN EXECUTE format('SELECT %L::vector(%s)', '[1,2,3]', s);
		ELSE EXECUTE format('SELECT %L::halfvec(%s)', '[1,2,3]', s);
		END CASE;
	WHEN 'aggregate' THEN
		st := a::float8[];
		CASE mode
		WHEN 0 THEN PERFORM vector_avg(st);
		WHEN 1 THEN PERFORM halfvec_avg(st);
		WHEN 2 THEN PERFORM vector_avg(vector_accum(st, b::vector));
		WHEN 3 THEN PERFORM halfvec_avg(halfvec_accum(st, b::halfvec));
		ELSE PERFORM vector_avg(vector_combine(st, b::float8[]));
		END CASE;
	WHEN 'subvector' THEN
		IF mode = 0 THEN
			v := subvector(a::vector, b::int, c::int);
			RETURN v::text::vector = v;
		END IF;
		h := subvector(a::halfvec, b::int, c::int);
		RETURN h::text::halfvec = h;
	WHEN 'reloptions' THEN
		EXECUTE format('CREATE INDEX fuzz_idx ON fuzz.%s USING %s (v) WITH (%s)',
					   CASE WHEN mode % 2 = 0 THEN 'tv' ELSE 'th' END,
					   CASE WHEN mode < 2 THEN 'hnsw' ELSE 'spann' END, s);
		DROP INDEX fuzz.fuzz_idx;
	END CASE;
	RETURN true;
END $$;

CREATE FUNCTION fuzz.run(kind text, inputs text[], modes int[])
RETURNS TABLE (code text, n int, example text, message text)
LANGUAGE plpgsql AS $$
DECLARE
	codes text[] := '{}';
	counts int[] := '{}';
	examples text[] := '{}';
	messages text[] := '{}';
	r record;
	c text;
	m text;
	k int;
BEGIN
	FOR r IN SELECT u.s, u.mode FROM unnest(inputs, modes) u(s, mode) LOOP
		m := NULL;
		BEGIN
			c := CASE WHEN fuzz.one(kind, r.s, r.mode) THEN '00000' ELSE 'ROUND' END;
		EXCEPTION WHEN others THEN
			c := SQLSTATE;
			m := SQLERRM;
		END;
		k := array_position(codes, c);
		IF k IS NULL THEN
			codes := codes || c;
			counts := counts || 1;
			examples := examples || (left(r.s, 300) || format(' (mode %s)', r.mode));
			messages := messages || left(m, 300)::text;
		ELSE
			counts[k] := counts[k] + 1;
		END IF;
	END LOOP;
	RETURN QUERY SELECT * FROM unnest(codes, counts, examples, messages);
END $$;
