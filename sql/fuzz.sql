-- A deterministic fuzz of the text parsers.  Half the inputs are random
-- strings over the characters numbers are made of; the other half are
-- lists of number-like tokens (good, huge, tiny, NaN, malformed) joined by
-- commas or by the odd wrong separator, bracketed or not, sometimes cut
-- short.  Every input must either be accepted and print as text that reads
-- back to the same value, or be refused with a data-exception (22xxx) or
-- limit (54xxx) SQLSTATE: never another error, never a crash.
CREATE FUNCTION fuzz_text_input(typ text, n int, seed float8)
RETURNS TABLE (accepted int, refused int, other_errors int, bad_round_trips int)
LANGUAGE plpgsql AS $$
DECLARE
	alphabet text := '[],.-+eE0123456789 naifNIFx';
	tokens text[] := ARRAY['1', '-2.5', '0', '-0', '1e10', '3.4e38', '1e39', '1e-50', '65504',
						   '65520', '0.1', 'nan', 'inf', '-Infinity', '', ' 7 ', '0x1p3', '1.',
						   '.5', '-', '+1', '1e', '1,', '[1]', '2 3'];
	input text;
	output text;
	same bool;
BEGIN
	accepted := 0; refused := 0; other_errors := 0; bad_round_trips := 0;
	PERFORM setseed(seed);
	FOR i IN 1..n LOOP
		input := '';
		IF random() < 0.5 THEN
			FOR j IN 1..(1 + floor(random() * 14))::int LOOP
				input := input || substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1);
			END LOOP;
		ELSE
			FOR j IN 1..(1 + floor(random() * 120))::int LOOP
				IF j > 1 THEN
					input := input || CASE WHEN random() < 0.97 THEN ',' ELSE ' ' END;
				END IF;
				input := input || tokens[1 + floor(random() * 10)::int +
										 CASE WHEN random() < 0.2 THEN floor(random() * 15)::int ELSE 0 END];
			END LOOP;
			IF random() < 0.1 THEN
				input := left(input, floor(random() * length(input))::int);
			END IF;
		END IF;
		IF random() < 0.6 THEN
			input := '[' || input || ']';
		END IF;
		BEGIN
			EXECUTE format('SELECT %L::%s::text', input, typ) INTO output;
			accepted := accepted + 1;
			EXECUTE format('SELECT %L::%s = %L::%s', output, typ, input, typ) INTO same;
			IF NOT same THEN
				bad_round_trips := bad_round_trips + 1;
			END IF;
		EXCEPTION WHEN others THEN
			IF left(SQLSTATE, 2) IN ('22', '54') THEN
				refused := refused + 1;
			ELSE
				other_errors := other_errors + 1;
				RAISE NOTICE 'input %: % (%)', input, SQLERRM, SQLSTATE;
			END IF;
		END;
	END LOOP;
	RETURN NEXT;
END $$;

SELECT 'vector' AS type, * FROM fuzz_text_input('vector', 4000, 0.1);
SELECT 'halfvec' AS type, * FROM fuzz_text_input('halfvec', 4000, 0.2);
DROP FUNCTION fuzz_text_input(text, int, float8);
